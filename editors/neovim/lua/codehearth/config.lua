-- Defaults and the merged options. Everything has a default; setup() only overrides.
local M = {}

---@class codehearth.GhostKeymaps
---@field accept string|false       accept the whole suggestion (falls back to the key itself)
---@field accept_word string|false accept the next word
---@field accept_line string|false accept up to the end of the current line
---@field dismiss string|false     hide the suggestion

---@class codehearth.Options
M.defaults = {
  -- Server command, a list as in `vim.lsp.config` (`cmd`).
  cmd = { "codehearth", "serve" },
  -- Model id from the server's manifest (nil: the server's default).
  model = nil,
  -- Completion latency budget in milliseconds (nil: the server's default).
  latency_budget_ms = nil,
  -- Extra settings tree (camelCase, as in `codehearth settings-schema`), merged into
  -- `initializationOptions` and sent again on `workspace/didChangeConfiguration`.
  settings = {},
  -- Filetypes the server attaches to.
  filetypes = {
    "python",
    "javascript",
    "javascriptreact",
    "typescript",
    "typescriptreact",
    "go",
    "rust",
    "java",
    "c",
    "cpp",
  },
  -- Files that mark a workspace root (none found: single-file mode).
  root_markers = { ".git", "pyproject.toml", "setup.py", "package.json", "go.mod", "Cargo.toml", ".hg" },
  ghost_text = {
    enabled = true,
    -- "auto": vim.lsp.inline_completion on Neovim 0.12+, extmarks below that.
    -- "extmark": always draw with extmarks (streams codehearth/completionChunk).
    -- "builtin": always vim.lsp.inline_completion (0.12+ only).
    backend = "auto",
    debounce_ms = 120,
    -- Also ask when entering Insert mode (not only after typing).
    on_insert_enter = false,
    hl_group = "CodehearthGhostText",
    keymaps = {
      accept = "<Tab>",
      accept_word = "<M-w>",
      accept_line = "<M-l>",
      dismiss = "<C-]>",
    },
  },
  explain = {
    border = "rounded",
    max_width = 80,
    max_height = 24,
    -- Move the cursor into the float (so `q` closes it).
    enter = true,
  },
}

---@type codehearth.Options
M.options = vim.deepcopy(M.defaults)

---@param opts? table
function M.set(opts)
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  -- Lists replace, they do not merge by index.
  if opts and opts.cmd then
    M.options.cmd = opts.cmd
  end
  if opts and opts.filetypes then
    M.options.filetypes = opts.filetypes
  end
  if opts and opts.root_markers then
    M.options.root_markers = opts.root_markers
  end
  return M.options
end

--- The settings tree sent to the server (camelCase, docs/protocol.md).
---@return table
function M.server_settings()
  local o = M.options
  local s = vim.deepcopy(o.settings or {})
  if o.model then
    s.model = o.model
  end
  if o.latency_budget_ms then
    s.latencyBudgetMs = o.latency_budget_ms
  end
  if s.streamCompletionChunks == nil then
    s.streamCompletionChunks = o.ghost_text.enabled and true or false
  end
  return s
end

return M
