-- The typist's eyes: what a plugin's ghost text shows now, read from the extmarks of its namespace.
local M = {}

--- The text of extmark chunks, keeping only the chunks in highlight group `hl` (nil: all).
local function chunks_text(chunks, hl)
  local parts = {}
  for _, chunk in ipairs(chunks or {}) do
    if hl == nil or hl == vim.NIL or chunk[2] == hl then
      table.insert(parts, chunk[1])
    end
  end
  return table.concat(parts)
end

--- Ghost text of namespace `ns_name` in the current buffer, with the cursor and the cursor's line:
--- { first = text drawn on the cursor's line, below = { lines drawn under it }, marks = n, line = ..., row, col }.
function M.look(ns_name, hl)
  local cur = vim.api.nvim_win_get_cursor(0)
  local out = {
    first = "",
    below = {},
    marks = 0,
    elsewhere = 0,
    row = cur[1] - 1,
    col = cur[2],
    line = vim.api.nvim_get_current_line(),
    mode = vim.api.nvim_get_mode().mode,
  }
  local ns = vim.api.nvim_get_namespaces()[ns_name]
  if not ns then
    return out
  end
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })) do
    local d = m[4]
    local text = chunks_text(d.virt_text, hl)
    local below = {}
    for _, vl in ipairs(d.virt_lines or {}) do
      table.insert(below, chunks_text(vl, hl))
    end
    if text ~= "" or #below > 0 then
      out.marks = out.marks + 1
      if m[2] ~= out.row then
        out.elsewhere = out.elsewhere + 1
      end
      out.first = out.first .. text
      for _, l in ipairs(below) do
        table.insert(out.below, l)
      end
    end
  end
  return out
end

--- Put an empty line at 0-based `row`, the cursor on it, and Insert mode on.
function M.begin_passage(row)
  vim.api.nvim_buf_set_lines(0, row, row, false, { "" })
  vim.api.nvim_win_set_cursor(0, { row + 1, 0 })
end

--- The codehearth client attached to the current buffer and its server's codehearth/stats (nil: not yet).
function M.codehearth_stats()
  local c = vim.lsp.get_clients({ name = "codehearth", bufnr = 0 })[1]
  if not c or not c.initialized then
    return vim.NIL
  end
  local res = c:request_sync("codehearth/stats", vim.NIL, 10000, 0)
  return res and res.result or vim.NIL
end

--- llama.vim's client cache (raw /infill answers, with their timings) for the floor check.
function M.llama_cache()
  local out = {}
  for _, raw in pairs(vim.g.cache_data or {}) do
    table.insert(out, raw)
  end
  return out
end

return M
