-- Server registration and small helpers over the built-in client (0.10 and 0.11+).
local config = require("codehearth.config")

local M = {}

M.name = "codehearth"

local has_011 = vim.fn.has("nvim-0.11") == 1

--- Handlers for the server's custom notifications, filled by the feature modules.
---@type table<string, fun(err: any, result: any, ctx: table)>
M.handlers = {}

--- Called with (code, signal, client_id) when a codehearth server exits.
---@type table<string, fun(code: integer, signal: integer, client_id: integer)>
M.exit_hooks = {}

--- Called with (client, bufnr) on attach.
---@type table<string, fun(client: vim.lsp.Client, bufnr: integer)>
M.attach_hooks = {}

---@param bufnr? integer
---@return vim.lsp.Client?
function M.get_client(bufnr)
  local clients = vim.lsp.get_clients({ name = M.name, bufnr = bufnr })
  for _, c in ipairs(clients) do
    if not c:is_stopped() then
      return c
    end
  end
  return nil
end

---@return vim.lsp.Client[]
function M.all_clients()
  return vim.lsp.get_clients({ name = M.name })
end

--- client:request on 0.11, client.request on 0.10.
---@return boolean ok, integer? request_id
function M.request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- client:request_sync on 0.11, client.request_sync on 0.10.
function M.request_sync(client, method, params, timeout_ms, bufnr)
  if has_011 then
    return client:request_sync(method, params, timeout_ms, bufnr)
  end
  return client.request_sync(method, params, timeout_ms, bufnr)
end

function M.notify(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

function M.cancel_request(client, id)
  if not id then
    return
  end
  if has_011 then
    return client:cancel_request(id)
  end
  return client.cancel_request(id)
end

--- LSP position (in the client's encoding) -> 0-based (row, byte col) in bufnr.
---@return integer row, integer col
function M.pos_to_byte(bufnr, pos, encoding)
  local row = pos.line
  local col = pos.character
  if encoding == "utf-8" then
    return row, col
  end
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  local ok, idx
  if has_011 then
    ok, idx = pcall(vim.str_byteindex, line, encoding, col, false)
  else
    ok, idx = pcall(vim.str_byteindex, line, col, encoding == "utf-16")
  end
  if not ok then
    idx = math.min(col, #line)
  end
  return row, idx
end

--- Current cursor as LSP text document position params in the client's encoding.
function M.position_params(win, client)
  return vim.lsp.util.make_position_params(win or 0, client.offset_encoding or "utf-16")
end

local function on_exit(code, signal, client_id)
  vim.schedule(function()
    for _, hook in pairs(M.exit_hooks) do
      pcall(hook, code, signal, client_id)
    end
  end)
end

local function on_attach(client, bufnr)
  for _, hook in pairs(M.attach_hooks) do
    pcall(hook, client, bufnr)
  end
end

--- The client config shared by vim.lsp.config and vim.lsp.start.
function M.client_config()
  local o = config.options
  local handlers = {}
  for method, fn in pairs(M.handlers) do
    handlers[method] = fn
  end
  return {
    name = M.name,
    cmd = o.cmd,
    filetypes = o.filetypes,
    root_markers = o.root_markers,
    init_options = config.server_settings(),
    settings = { codehearth = config.server_settings() },
    capabilities = {
      textDocument = {
        inlineCompletion = { dynamicRegistration = false },
      },
    },
    handlers = handlers,
    commands = {
      ["codehearth.explain"] = function(command, ctx)
        require("codehearth.explain").from_command(command, ctx)
      end,
    },
    on_exit = on_exit,
    on_attach = on_attach,
  }
end

local augroup = vim.api.nvim_create_augroup("codehearth.lsp", { clear = true })

local function start_010(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= "" then
    return
  end
  local cfg = M.client_config()
  cfg.root_dir = vim.fs.root(bufnr, cfg.root_markers) or vim.fn.getcwd()
  cfg.filetypes = nil
  cfg.root_markers = nil
  vim.lsp.start(cfg, { bufnr = bufnr })
end

--- Register the server with Neovim's LSP client for the configured filetypes.
function M.register()
  vim.api.nvim_clear_autocmds({ group = augroup })
  -- vim.g.codehearth_use_lsp_start forces the 0.10 path (vim.lsp.start per buffer) on newer Neovims.
  if vim.lsp.config and vim.lsp.enable and not vim.g.codehearth_use_lsp_start then
    -- Assign (not merge): calling setup() again replaces the options, lists included.
    vim.lsp.config[M.name] = M.client_config()
    vim.lsp.enable(M.name)
    return
  end
  -- Neovim 0.10: start per buffer.
  vim.api.nvim_create_autocmd("FileType", {
    group = augroup,
    pattern = config.options.filetypes,
    callback = function(ev)
      start_010(ev.buf)
    end,
  })
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.tbl_contains(config.options.filetypes, vim.bo[buf].filetype) then
      start_010(buf)
    end
  end
end

--- Push the current settings to running servers.
function M.push_settings()
  for _, client in ipairs(M.all_clients()) do
    M.notify(client, "workspace/didChangeConfiguration", { settings = { codehearth = config.server_settings() } })
  end
end

return M
