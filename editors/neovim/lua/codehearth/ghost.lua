-- Inline ghost text.
-- Neovim 0.12+: vim.lsp.inline_completion. Neovim 0.10/0.11: extmarks drawn from a raw
-- textDocument/inlineCompletion request, growing live from codehearth/completionChunk.
local config = require("codehearth.config")
local lsp = require("codehearth.lsp")

local api = vim.api
local uv = vim.uv or vim.loop
local M = {}

M.ns = api.nvim_create_namespace("codehearth.ghost")

---@class codehearth.GhostState
---@field buf integer
---@field row integer        0-based row of the anchor (where the ghost text starts)
---@field col integer        0-based byte column of the anchor
---@field line string        the anchor line's text, to notice edits
---@field token string       workDoneToken sent with the request
---@field client_id integer
---@field req_id integer?
---@field full string        the whole suggestion, from the position of the request
---@field consumed string    the part of `full` typed through or accepted since
---@field answered boolean   the request was answered
---@field replace_end integer? byte column on the anchor row that accepting "all" replaces up to
---@field extmark integer?
---@field sid string?         the server's suggestion id (docs/protocol.md, "Acceptance statistics")
---@field base integer        characters of that suggestion already in the buffer before `full` starts
---@field shown_sent boolean
---@field done boolean        accepted whole: no dismissal to report

---@type codehearth.GhostState?
local st = nil
local seq = 0
local timer = nil

--- Counters for tests and :checkhealth.
M.stats = { requests = 0, responses = 0, chunks = 0, shown = 0, accepted = 0, last_latency_ms = nil, events = {} }

--- Tell the server what happened to the suggestion: "shown", "accepted", "partial" or "dismissed".
local function report(s, event, accepted_chars)
  if not s or not s.sid then
    return
  end
  local client = vim.lsp.get_client_by_id(s.client_id)
  if not client then
    return
  end
  local params = { id = s.sid, event = event, acceptedChars = accepted_chars }
  M.stats.events[#M.stats.events + 1] = params
  pcall(lsp.notify, client, "codehearth/suggestionEvent", params)
end

local function has_builtin()
  return vim.lsp.inline_completion ~= nil and vim.fn.has("nvim-0.12") == 1
end

--- The backend in use: "builtin" or "extmark".
function M.backend()
  local b = config.options.ghost_text.backend
  if b == "builtin" or (b == "auto" and has_builtin()) then
    return "builtin"
  end
  return "extmark"
end

local function display_text()
  if not st or st.full == "" then
    return ""
  end
  if st.full:sub(1, #st.consumed) ~= st.consumed then
    return ""
  end
  return st.full:sub(#st.consumed + 1)
end

local function undraw()
  if st and st.extmark and api.nvim_buf_is_valid(st.buf) then
    pcall(api.nvim_buf_del_extmark, st.buf, M.ns, st.extmark)
  end
  if st then
    st.extmark = nil
  end
end

--- Hide the suggestion and forget it (cancels a request in flight).
function M.clear()
  if not st then
    return
  end
  if st.shown_sent and not st.done then
    report(st, "dismissed")
  end
  undraw()
  if st.req_id and not st.answered then
    local client = vim.lsp.get_client_by_id(st.client_id)
    if client then
      pcall(lsp.cancel_request, client, st.req_id)
    end
  end
  st = nil
end

local function expand_tabs(s)
  if not s:find("\t", 1, true) then
    return s
  end
  return (s:gsub("\t", string.rep(" ", vim.bo.tabstop > 0 and vim.bo.tabstop or 8)))
end

local function draw()
  if not st or not api.nvim_buf_is_valid(st.buf) then
    return
  end
  local text = display_text()
  if text == "" or api.nvim_get_current_buf() ~= st.buf or not vim.api.nvim_get_mode().mode:match("^i") then
    undraw()
    return
  end
  local lines = vim.split(text, "\n", { plain = true })
  local hl = config.options.ghost_text.hl_group
  local opts = {
    id = st.extmark,
    virt_text = { { expand_tabs(lines[1]), hl } },
    virt_text_pos = vim.fn.has("nvim-0.10") == 1 and "inline" or "overlay",
    hl_mode = "combine",
    priority = 200,
  }
  if #lines > 1 then
    local vl = {}
    for i = 2, #lines do
      vl[#vl + 1] = { { expand_tabs(lines[i]), hl } }
    end
    opts.virt_lines = vl
  end
  local ok, id = pcall(api.nvim_buf_set_extmark, st.buf, M.ns, st.row, st.col, opts)
  if ok then
    if not st.extmark then
      M.stats.shown = M.stats.shown + 1
    end
    st.extmark = id
    if st.sid and not st.shown_sent then
      st.shown_sent = true
      report(st, "shown")
    end
  end
end

---@return boolean
function M.visible()
  return st ~= nil and st.extmark ~= nil and display_text() ~= ""
end

--- What is shown now (for tests and statuslines).
function M.state()
  if not st then
    return { visible = false, text = "" }
  end
  return {
    visible = M.visible(),
    text = display_text(),
    full = st.full,
    answered = st.answered,
    row = st.row,
    col = st.col,
    token = st.token,
  }
end

local function cursor()
  local pos = api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

local function get_line(buf, row)
  return api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ""
end

--- Keep the suggestion when the user typed its beginning; clear it otherwise.
---@return boolean kept
local function sync()
  if not st then
    return false
  end
  local buf = api.nvim_get_current_buf()
  local row, col = cursor()
  if buf ~= st.buf or row ~= st.row then
    M.clear()
    return false
  end
  local line = get_line(buf, row)
  if col == st.col and line == st.line then
    return true
  end
  if col > st.col and st.full ~= "" then
    local typed = line:sub(st.col + 1, col)
    local rest = display_text()
    if
      #typed < #rest
      and rest:sub(1, #typed) == typed
      and line == st.line:sub(1, st.col) .. typed .. st.line:sub(st.col + 1)
    then
      st.consumed = st.consumed .. typed
      st.col = col
      st.line = line
      draw()
      return true
    end
  end
  M.clear()
  return false
end

local function item_text(item)
  local t = item.insertText
  if type(t) == "table" then
    t = t.value
  end
  if type(t) ~= "string" then
    return nil
  end
  return t
end

--- Fit an item's text and range to the anchor: returns the text to show from the anchor on.
local function fit_item(s, item, client)
  local text = item_text(item)
  if not text then
    return nil
  end
  s.replace_end = nil
  if type(item.range) == "table" and item.range.start then
    local enc = client.offset_encoding or "utf-16"
    local srow, scol = lsp.pos_to_byte(s.buf, item.range.start, enc)
    local erow, ecol = lsp.pos_to_byte(s.buf, item.range["end"], enc)
    if srow ~= s.row or erow ~= s.row then
      return nil
    end
    local anchor = s.col - #s.consumed
    if scol < anchor then
      -- The item replaces text left of the cursor: it must repeat it.
      local before = s.line:sub(scol + 1, anchor)
      if text:sub(1, #before) ~= before then
        return nil
      end
      text = text:sub(#before + 1)
    elseif scol > anchor then
      return nil
    end
    if ecol > anchor then
      s.replace_end = ecol + #s.consumed
    end
  end
  return text
end

local function on_response(token, err, result)
  if not st or st.token ~= token then
    return
  end
  M.stats.responses = M.stats.responses + 1
  if st.sent_at then
    M.stats.last_latency_ms = (uv.hrtime() - st.sent_at) / 1e6
  end
  st.answered = true
  if err or not result then
    return
  end
  local items = result.items or result
  local item = type(items) == "table" and items[1] or nil
  if not item then
    -- Empty answer (deadline, superseded): chunks may still follow; keep what streamed.
    return
  end
  local client = vim.lsp.get_client_by_id(st.client_id)
  local text = client and fit_item(st, item, client)
  if not text then
    return
  end
  local cmd = type(item.command) == "table" and item.command or nil
  local arg = cmd and cmd.command == "codehearth.acceptSuggestion" and type(cmd.arguments) == "table"
    and cmd.arguments[1]
  if type(arg) == "table" and type(arg.id) == "string" then
    st.sid = arg.id
    local n = vim.fn.strchars(text)
    st.base = math.max(0, (tonumber(arg.acceptedChars) or n) - n)
  end
  st.full = text
  draw()
end

lsp.handlers["codehearth/completionChunk"] = function(_, params)
  if type(params) ~= "table" or not st or params.token ~= st.token then
    return
  end
  M.stats.chunks = M.stats.chunks + 1
  local text = params.text
  if type(text) ~= "string" then
    return
  end
  if st.answered and st.full ~= "" and not params.done then
    -- After the answer, chunks may only extend it (generation went on past the deadline); the last chunk is the
    -- server's final word, and empty when its confidence gate hides the suggestion.
    if #text <= #st.full or text:sub(1, #st.full) ~= st.full then
      return
    end
  end
  st.full = text
  draw()
end

-- The answer to the last request was cut short by the deadline (nothing, or a glance, while the full prompt was
-- still being read) and the full prompt's suggestion is ready now: ask again if the cursor is where that request
-- asked and nothing was typed since (the server answers from what it has, at once).
lsp.handlers["codehearth/suggestionReady"] = function(_, params)
  if type(params) ~= "table" or not st or not st.answered or st.consumed ~= "" then
    return
  end
  local buf = api.nvim_get_current_buf()
  local doc = type(params.textDocument) == "table" and params.textDocument.uri or nil
  local pos = type(params.position) == "table" and params.position or {}
  if buf ~= st.buf or doc ~= vim.uri_from_bufnr(buf) or not api.nvim_get_mode().mode:match("^i") then
    return
  end
  local row, col = cursor()
  local client = vim.lsp.get_client_by_id(st.client_id)
  if not client or row ~= st.row or col ~= st.col or get_line(buf, row) ~= st.line then
    return
  end
  local here = lsp.position_params(0, client).position
  if here.line ~= pos.line or here.character ~= pos.character then
    return
  end
  M.stats.late = (M.stats.late or 0) + 1
  M.request()
end

--- Ask the server for a suggestion at the cursor (the extmark backend).
function M.request()
  if M.backend() ~= "extmark" or not config.options.ghost_text.enabled then
    return
  end
  if not api.nvim_get_mode().mode:match("^i") then
    return
  end
  local buf = api.nvim_get_current_buf()
  if vim.b[buf].codehearth_disable or vim.g.codehearth_disable then
    return
  end
  local client = lsp.get_client(buf)
  if not client then
    return
  end
  local caps = client.server_capabilities or {}
  if not caps.inlineCompletionProvider then
    return
  end
  M.clear()
  seq = seq + 1
  local token = ("codehearth-ghost-%d-%d"):format(vim.fn.getpid(), seq)
  local row, col = cursor()
  st = {
    buf = buf,
    row = row,
    col = col,
    line = get_line(buf, row),
    token = token,
    client_id = client.id,
    full = "",
    consumed = "",
    answered = false,
    sent_at = uv.hrtime(),
    base = 0,
    shown_sent = false,
    done = false,
  }
  local params = lsp.position_params(0, client)
  params.context = { triggerKind = 2 } -- Automatic
  params.workDoneToken = token
  M.stats.requests = M.stats.requests + 1
  local ok, req_id = lsp.request(client, "textDocument/inlineCompletion", params, function(err, result)
    on_response(token, err, result)
  end, buf)
  if ok and st and st.token == token then
    st.req_id = req_id
  end
end

local function schedule()
  if not timer then
    timer = uv.new_timer()
  end
  timer:stop()
  timer:start(
    config.options.ghost_text.debounce_ms,
    0,
    vim.schedule_wrap(function()
      M.request()
    end)
  )
end

--- Accept the suggestion: "all", "word" (the next word) or "line" (up to the end of the line).
---@param kind? "all"|"word"|"line"
---@return boolean accepted
function M.accept(kind)
  kind = kind or "all"
  if not M.visible() or not st then
    return false
  end
  local text = display_text()
  local part
  if kind == "line" then
    if text:sub(1, 1) == "\n" then
      local nl = text:find("\n", 2, true)
      part = nl and text:sub(1, nl - 1) or text
    else
      local nl = text:find("\n", 1, true)
      part = nl and text:sub(1, nl - 1) or text
    end
  elseif kind == "word" then
    part = text:match("^[ \t]*[%w_]+")
      or text:match("^[ \t]*[^%w_%s]+")
      or text:match("^\n[ \t]*")
      or text:match("^%s+")
      or text
  else
    part = text
  end
  local buf, row, col = st.buf, st.row, st.col
  local end_col = col
  if kind == "all" and st.replace_end and st.replace_end > col then
    end_col = math.min(st.replace_end, #get_line(buf, row))
  end
  local lines = vim.split(part, "\n", { plain = true })
  undraw()
  api.nvim_buf_set_text(buf, row, col, row, end_col, lines)
  local new_row = row + #lines - 1
  local new_col = #lines == 1 and (col + #part) or #lines[#lines]
  api.nvim_win_set_cursor(0, { new_row + 1, new_col })
  M.stats.accepted = M.stats.accepted + 1
  -- Characters counted from where the suggestion was first offered, typed-through ones included.
  local taken = st.base + vim.fn.strchars(st.consumed .. part)
  if kind == "all" or part == text then
    st.done = true
    report(st, "accepted", taken)
    M.clear()
  else
    report(st, "partial", taken)
    st.consumed = st.consumed .. part
    st.row = new_row
    st.col = new_col
    st.line = get_line(buf, new_row)
    if new_row ~= row then
      -- The rest of the suggestion now starts on a new row: the anchor moved with it.
      st.replace_end = nil
    end
    draw()
  end
  return true
end

local function termcodes(key)
  return api.nvim_replace_termcodes(key, true, false, true)
end

--- What `key` did before codehearth mapped it (buffer-local or global), as a function that does it.
local function previous_mapping(bufnr, key)
  local prev
  for _, m in ipairs(api.nvim_buf_get_keymap(bufnr, "i")) do
    if m.lhs == termcodes(key) or m.lhs == key then
      prev = m
    end
  end
  if not prev then
    local ok, m = pcall(vim.fn.maparg, key, "i", false, true)
    if ok and type(m) == "table" and not vim.tbl_isempty(m) and m.buffer ~= 1 then
      prev = m
    end
  end
  if prev and (prev.desc or ""):match("^codehearth:") then
    prev = nil
  end
  return function()
    if not prev then
      api.nvim_feedkeys(termcodes(key), "ni", false)
      return
    end
    local flags = (prev.noremap == 1) and "ni" or "mi"
    if prev.callback then
      local ret = prev.callback()
      if prev.expr == 1 and type(ret) == "string" and ret ~= "" then
        api.nvim_feedkeys(prev.replace_keycodes == 1 and termcodes(ret) or ret, flags, false)
      end
    elseif prev.rhs and prev.rhs ~= "" then
      if prev.expr == 1 then
        local ret = vim.api.nvim_eval(prev.rhs)
        api.nvim_feedkeys(termcodes(ret), flags, false)
      else
        api.nvim_feedkeys(termcodes(prev.rhs), flags, false)
      end
    else
      api.nvim_feedkeys(termcodes(key), "ni", false)
    end
  end
end

local function map_accept(bufnr, key, fn, desc)
  if not key or key == "" then
    return
  end
  local fallback = previous_mapping(bufnr, key)
  vim.keymap.set("i", key, function()
    if not fn() then
      fallback()
    end
  end, { buffer = bufnr, silent = true, desc = desc })
end

local augroup = api.nvim_create_augroup("codehearth.ghost", { clear = true })

--- Set up ghost text for a buffer the server attached to.
function M.attach(client, bufnr)
  local o = config.options.ghost_text
  if not o.enabled or vim.b[bufnr].codehearth_ghost_attached then
    return
  end
  vim.b[bufnr].codehearth_ghost_attached = true
  local km = o.keymaps
  if M.backend() == "builtin" then
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
    map_accept(bufnr, km.accept, function()
      return vim.lsp.inline_completion.get() and true or false
    end, "codehearth: accept the suggestion")
    return
  end
  map_accept(bufnr, km.accept, function()
    return M.accept("all")
  end, "codehearth: accept the suggestion")
  map_accept(bufnr, km.accept_word, function()
    return M.accept("word")
  end, "codehearth: accept the next word")
  map_accept(bufnr, km.accept_line, function()
    return M.accept("line")
  end, "codehearth: accept the line")
  map_accept(bufnr, km.dismiss, function()
    if M.visible() then
      M.clear()
      return true
    end
    return false
  end, "codehearth: dismiss the suggestion")

  api.nvim_create_autocmd("TextChangedI", {
    group = augroup,
    buffer = bufnr,
    callback = function()
      if not sync() then
        schedule()
      end
    end,
  })
  api.nvim_create_autocmd("CursorMovedI", {
    group = augroup,
    buffer = bufnr,
    callback = function()
      sync()
    end,
  })
  api.nvim_create_autocmd("InsertEnter", {
    group = augroup,
    buffer = bufnr,
    callback = function()
      if config.options.ghost_text.on_insert_enter then
        schedule()
      end
    end,
  })
  api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = augroup,
    buffer = bufnr,
    callback = function()
      if timer then
        timer:stop()
      end
      M.clear()
    end,
  })
end

lsp.attach_hooks.ghost = function(client, bufnr)
  M.attach(client, bufnr)
end

lsp.exit_hooks.ghost = function(_, _, client_id)
  if st and st.client_id == client_id then
    M.clear()
  end
end

return M
