-- Helpers the pytest side calls through nvim_exec_lua.
local M = {}

function M.client()
  return require("codehearth.lsp").get_client(0)
end

--- Attached and initialised?
function M.ready()
  local c = M.client()
  return c ~= nil and c.initialized == true and c.server_capabilities ~= nil
end

--- Titles and command names of the code actions at the cursor.
function M.code_actions()
  local c = assert(M.client(), "no client")
  local params = vim.lsp.util.make_range_params(0, c.offset_encoding)
  params.context = { diagnostics = {}, triggerKind = 1 }
  local res, err = c:request_sync("textDocument/codeAction", params, 20000, 0)
  assert(res, "codeAction failed: " .. tostring(err))
  assert(not res.err, "codeAction error: " .. vim.inspect(res.err))
  local out = {}
  for _, a in ipairs(res.result or {}) do
    local cmd = a.command
    local name = type(cmd) == "table" and cmd.command or cmd
    table.insert(out, { title = a.title, command = name or vim.NIL })
  end
  return out
end

--- Run the explain code action through vim.lsp.buf.code_action (as a user picks it).
function M.run_explain_action()
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(a)
      return type(a.command) == "table" and a.command.command == "codehearth.explain"
    end,
  })
end

--- The last explanation session, as plain data.
function M.explain_state()
  local s = require("codehearth.explain").last
  if not s then
    return vim.NIL
  end
  local float_text = ""
  if s.buf and vim.api.nvim_buf_is_valid(s.buf) then
    float_text = table.concat(vim.api.nvim_buf_get_lines(s.buf, 0, -1, false), "\n")
  end
  return {
    id = s.id,
    text = s.text,
    float_text = float_text,
    float_open = s.win ~= nil and vim.api.nvim_win_is_valid(s.win),
    float_ft = s.buf and vim.api.nvim_buf_is_valid(s.buf) and vim.bo[s.buf].filetype or vim.NIL,
    chunks = s.chunks,
    chunks_before_done = s.chunks_before_done,
    stream_done = s.stream_done,
    finished = s.finished,
    status = s.status,
    cached = s.cached == nil and vim.NIL or s.cached,
    error = s.error or vim.NIL,
    first_chunk_ms = s.first_chunk_ms or vim.NIL,
    done_ms = s.done_ms or vim.NIL,
    in_float = s.win ~= nil and vim.api.nvim_get_current_win() == s.win,
  }
end

function M.ghost_state()
  local g = require("codehearth.ghost")
  local st = g.state()
  local marks = vim.api.nvim_buf_get_extmarks(0, g.ns, 0, -1, { details = true })
  local shown = {}
  for _, m in ipairs(marks) do
    local d = m[4]
    local parts = {}
    for _, chunk in ipairs(d.virt_text or {}) do
      table.insert(parts, chunk[1])
    end
    for _, vl in ipairs(d.virt_lines or {}) do
      local l = {}
      for _, chunk in ipairs(vl) do
        table.insert(l, chunk[1])
      end
      table.insert(parts, "\n" .. table.concat(l))
    end
    table.insert(shown, table.concat(parts))
  end
  st.extmarks = shown
  st.stats = g.stats
  st.mode = vim.api.nvim_get_mode().mode
  return st
end

function M.buffer_text()
  return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
end

function M.errors()
  local out = {}
  for _, n in ipairs(_G.codehearth_test_notes) do
    if n.level >= vim.log.levels.ERROR then
      table.insert(out, n.msg)
    end
  end
  return out
end

function M.server_stats()
  local c = assert(M.client(), "no client")
  local res = c:request_sync("codehearth/stats", vim.NIL, 10000, 0)
  return res and res.result or vim.NIL
end

return M
