-- codehearth: a local code assistant over LSP. See :help codehearth.
local M = {}

M.version = "0.1.0"

--- Configure the plugin and register the server with Neovim's LSP client.
---@param opts? codehearth.Options
function M.setup(opts)
  if vim.fn.has("nvim-0.10") == 0 then
    vim.notify("codehearth: Neovim 0.10 or newer is required", vim.log.levels.ERROR)
    return
  end
  local config = require("codehearth.config")
  config.set(opts)
  -- The feature modules add their notification handlers before the client config is built.
  require("codehearth.explain")
  require("codehearth.ghost")
  vim.api.nvim_set_hl(0, "CodehearthGhostText", { link = "Comment", default = true })
  require("codehearth.lsp").register()
  M.create_commands()
  M._did_setup = true
end

--- :CodehearthExplain and :CodehearthCancel (also made by plugin/codehearth.lua).
function M.create_commands()
  vim.api.nvim_create_user_command("CodehearthExplain", function()
    M.explain()
  end, { desc = "codehearth: explain the function under the cursor" })
  vim.api.nvim_create_user_command("CodehearthCancel", function()
    M.cancel()
  end, { desc = "codehearth: stop the running explanation" })
end

--- Explain the function under the cursor in a floating window.
function M.explain()
  return require("codehearth.explain").run({ bufnr = vim.api.nvim_get_current_buf() })
end

--- Stop the running explanation.
function M.cancel()
  return require("codehearth.explain").cancel()
end

--- Accept the ghost text suggestion: "all" (default), "word" or "line".
---@param kind? "all"|"word"|"line"
function M.accept(kind)
  return require("codehearth.ghost").accept(kind)
end

--- Change settings at runtime (same keys as setup()) and push them to running servers.
function M.update(opts)
  local config = require("codehearth.config")
  config.set(vim.tbl_deep_extend("force", config.options, opts or {}))
  require("codehearth.lsp").push_settings()
end

return M
