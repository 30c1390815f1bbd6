-- "Explain this function": a floating markdown window filled from codehearth/explainChunk.
local config = require("codehearth.config")
local lsp = require("codehearth.lsp")

local api = vim.api
local M = {}

---@class codehearth.ExplainSession
---@field id string
---@field client_id integer
---@field source_buf integer
---@field buf integer?
---@field win integer?
---@field req_id integer?
---@field text string
---@field chunks integer            non-empty chunks received
---@field chunks_before_done integer non-empty chunks received before the `done` chunk
---@field stream_done boolean       a chunk with done=true arrived
---@field finished boolean          the request was answered (or failed, or was cancelled)
---@field status string             "generating" | "done" | "cached" | "cancelled" | "error"
---@field cached boolean?
---@field error string?
---@field started number            hrtime (ns)
---@field first_chunk_ms number?
---@field done_ms number?

---@type table<string, codehearth.ExplainSession>
M.sessions = {}
---@type codehearth.ExplainSession?
M.last = nil

local counter = 0

local function one_line(msg)
  msg = tostring(msg or "unknown error")
  msg = msg:gsub("\r", ""):match("^%s*([^\n]*)") or msg
  return msg
end

local function display_lines(s)
  if s.text == "" then
    if s.status == "generating" then
      return { "…" }
    end
    return { "" }
  end
  return vim.split(s.text, "\n", { plain = true })
end

local function footer(s)
  local labels = {
    generating = " generating… ",
    done = " done ",
    cached = " cached ",
    cancelled = " cancelled ",
    error = " error ",
  }
  return labels[s.status] or (" " .. s.status .. " ")
end

local function win_size(lines)
  local o = config.options.explain
  local max_w = math.max(20, math.min(o.max_width, vim.o.columns - 4))
  local width = 30
  for _, l in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(l))
  end
  width = math.min(width, max_w)
  local height = 0
  for _, l in ipairs(lines) do
    height = height + math.max(1, math.ceil(vim.fn.strdisplaywidth(l) / width))
  end
  local max_h = math.max(3, math.min(o.max_height, vim.o.lines - 6))
  return width, math.max(1, math.min(height, max_h))
end

---@param s codehearth.ExplainSession
local function render(s)
  if not (s.buf and api.nvim_buf_is_valid(s.buf)) then
    return
  end
  local lines = display_lines(s)
  vim.bo[s.buf].modifiable = true
  api.nvim_buf_set_lines(s.buf, 0, -1, false, lines)
  vim.bo[s.buf].modifiable = false
  if s.win and api.nvim_win_is_valid(s.win) then
    local width, height = win_size(lines)
    local cfg = { width = width, height = height }
    if vim.fn.has("nvim-0.10") == 1 then
      cfg.footer = footer(s)
      cfg.footer_pos = "right"
    end
    pcall(api.nvim_win_set_config, s.win, cfg)
    -- Follow the tail while generating unless the user moved inside the float.
    if s.status == "generating" and (s.follow ~= false) then
      pcall(api.nvim_win_set_cursor, s.win, { #lines, 0 })
    end
  end
end

---@param s codehearth.ExplainSession
local function finish(s, status)
  if s.finished then
    return
  end
  s.finished = true
  s.status = status
  s.done_ms = (vim.uv or vim.loop).hrtime() / 1e6 - s.started / 1e6
  render(s)
  api.nvim_exec_autocmds("User", { pattern = "CodehearthExplainDone", modeline = false, data = { id = s.id, status = status } })
end

---@param s codehearth.ExplainSession
local function fail(s, msg)
  if s.finished then
    return
  end
  s.error = "codehearth: " .. one_line(msg)
  if s.text ~= "" then
    s.text = s.text .. "\n\n"
  end
  s.text = s.text .. "**" .. s.error .. "**"
  finish(s, "error")
  vim.notify(s.error, vim.log.levels.ERROR)
end

--- Stop generating (the float stays open).
---@param s? codehearth.ExplainSession
function M.cancel(s)
  s = s or M.last
  if not s or s.finished then
    return
  end
  local client = vim.lsp.get_client_by_id(s.client_id)
  if client and not client:is_stopped() then
    pcall(lsp.notify, client, "codehearth/cancelExplain", { id = s.id })
    pcall(lsp.cancel_request, client, s.req_id)
  end
  finish(s, "cancelled")
end

--- Close the float (cancels a running explanation).
---@param s? codehearth.ExplainSession
function M.close(s)
  s = s or M.last
  if not s then
    return
  end
  M.cancel(s)
  if s.win and api.nvim_win_is_valid(s.win) then
    pcall(api.nvim_win_close, s.win, true)
  end
  s.win = nil
end

---@param s codehearth.ExplainSession
local function open_float(s)
  local o = config.options.explain
  s.buf = api.nvim_create_buf(false, true)
  vim.bo[s.buf].bufhidden = "wipe"
  vim.bo[s.buf].filetype = "markdown"
  local lines = display_lines(s)
  api.nvim_buf_set_lines(s.buf, 0, -1, false, lines)
  vim.bo[s.buf].modifiable = false
  local width, height = win_size(lines)
  local wcfg = vim.lsp.util.make_floating_popup_options(width, math.max(height, 3), { border = o.border })
  wcfg.height = height
  wcfg.title = " Explain "
  wcfg.title_pos = "left"
  if vim.fn.has("nvim-0.10") == 1 then
    wcfg.footer = footer(s)
    wcfg.footer_pos = "right"
  end
  s.win = api.nvim_open_win(s.buf, o.enter, wcfg)
  vim.wo[s.win].wrap = true
  vim.wo[s.win].linebreak = true
  vim.wo[s.win].conceallevel = 2
  vim.wo[s.win].foldenable = false
  local function map(lhs, fn, desc)
    vim.keymap.set("n", lhs, fn, { buffer = s.buf, nowait = true, silent = true, desc = desc })
  end
  map("q", function()
    M.close(s)
  end, "codehearth: close the explanation")
  map("<Esc>", function()
    M.close(s)
  end, "codehearth: close the explanation")
  map("<C-c>", function()
    M.cancel(s)
  end, "codehearth: stop generating")
  api.nvim_create_autocmd("WinClosed", {
    pattern = tostring(s.win),
    once = true,
    callback = function()
      M.cancel(s)
      s.win = nil
    end,
  })
  api.nvim_create_autocmd("CursorMoved", {
    buffer = s.buf,
    callback = function()
      if s.win and api.nvim_win_is_valid(s.win) and api.nvim_get_current_win() == s.win then
        local row = api.nvim_win_get_cursor(s.win)[1]
        s.follow = row >= api.nvim_buf_line_count(s.buf)
      end
    end,
  })
end

--- Explain the function at `position` (LSP Position, client encoding) in `uri`.
---@param opts {bufnr?: integer, client?: vim.lsp.Client, uri?: string, position?: table}
---@return codehearth.ExplainSession?
function M.run(opts)
  opts = opts or {}
  local bufnr = opts.bufnr or api.nvim_get_current_buf()
  if bufnr == 0 then
    bufnr = api.nvim_get_current_buf()
  end
  local client = opts.client or lsp.get_client(bufnr)
  if not client then
    vim.notify("codehearth: no codehearth server attached to this buffer", vim.log.levels.ERROR)
    return nil
  end
  local uri, position = opts.uri, opts.position
  if not (uri and position) then
    local params = lsp.position_params(0, client)
    uri, position = params.textDocument.uri, params.position
  end
  -- One explanation at a time: close the previous float, forget ended sessions.
  if M.last then
    M.close(M.last)
  end
  for sid, old in pairs(M.sessions) do
    if old.finished then
      M.sessions[sid] = nil
    end
  end
  counter = counter + 1
  local id = ("nvim-%d-%d"):format(vim.fn.getpid(), counter)
  ---@type codehearth.ExplainSession
  local s = {
    id = id,
    client_id = client.id,
    source_buf = bufnr,
    text = "",
    chunks = 0,
    chunks_before_done = 0,
    stream_done = false,
    finished = false,
    status = "generating",
    started = (vim.uv or vim.loop).hrtime(),
  }
  M.sessions[id] = s
  M.last = s
  open_float(s)
  local params = {
    command = "codehearth.explain",
    arguments = { uri, position, { id = id } },
    workDoneToken = "codehearth-explain-" .. id,
  }
  local ok, req_id = lsp.request(client, "workspace/executeCommand", params, function(err, result)
    if s.finished then
      return
    end
    if err then
      fail(s, err.message or vim.inspect(err))
      return
    end
    result = result or {}
    s.cached = result.cached and true or false
    -- The result holds the full text; prefer it (chunks may have been missed or be none when cached).
    if type(result.text) == "string" and result.text ~= "" then
      s.text = result.text
    end
    if s.text == "" then
      fail(s, "the model returned an empty explanation")
      return
    end
    finish(s, s.cached and "cached" or "done")
  end, bufnr)
  if not ok then
    fail(s, "the server is not running")
    return s
  end
  s.req_id = req_id
  return s
end

--- `vim.lsp.commands` / client `commands` entry for the code action's command.
function M.from_command(command, ctx)
  local args = command.arguments or {}
  local client = ctx.client_id and vim.lsp.get_client_by_id(ctx.client_id) or nil
  M.run({ bufnr = ctx.bufnr, client = client, uri = args[1], position = args[2] })
end

lsp.handlers["codehearth/explainChunk"] = function(_, params)
  if type(params) ~= "table" then
    return
  end
  local s = M.sessions[tostring(params.id)]
  if not s or s.finished then
    return
  end
  if type(params.text) == "string" and params.text ~= "" then
    s.text = s.text .. params.text
    s.chunks = s.chunks + 1
    if not s.stream_done then
      s.chunks_before_done = s.chunks_before_done + 1
    end
    if not s.first_chunk_ms then
      s.first_chunk_ms = ((vim.uv or vim.loop).hrtime() - s.started) / 1e6
    end
  end
  if params.error and params.error ~= vim.NIL then
    fail(s, params.error)
    return
  end
  if params.done then
    s.stream_done = true
  end
  render(s)
end

lsp.exit_hooks.explain = function(code, signal, client_id)
  for _, s in pairs(M.sessions) do
    if s.client_id == client_id and not s.finished then
      fail(s, ("server exited (code %s%s)"):format(code, signal ~= 0 and (", signal " .. signal) or ""))
    end
  end
end

return M
