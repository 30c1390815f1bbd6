-- :checkhealth codehearth
local M = {}

local health = vim.health

--- The server command without its trailing `serve ...` part, to run other subcommands.
local function base_cmd(cmd)
  local base = {}
  for _, part in ipairs(cmd) do
    if part == "serve" then
      break
    end
    base[#base + 1] = part
  end
  return base
end

local function run(argv, timeout)
  local ok, obj = pcall(function()
    return vim.system(argv, { text = true }):wait(timeout or 20000)
  end)
  if not ok then
    return nil, tostring(obj)
  end
  if obj.code ~= 0 then
    local err = vim.trim((obj.stderr or "") ~= "" and obj.stderr or (obj.stdout or ""))
    return nil, (err:match("[^\n]*$") or err) .. (" (exit %s)"):format(obj.code)
  end
  return obj.stdout or ""
end

function M.check()
  local config = require("codehearth.config")
  local o = config.options

  health.start("codehearth: Neovim")
  local v = vim.version()
  local vs = ("%d.%d.%d"):format(v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.10") == 0 then
    health.error("Neovim " .. vs .. " is too old: 0.10 or newer is required")
    return
  end
  health.ok("Neovim " .. vs)
  if not require("codehearth")._did_setup then
    health.warn('setup() was not called', { 'add require("codehearth").setup({}) to your config' })
  end
  local ghost = require("codehearth.ghost")
  if o.ghost_text.enabled then
    health.ok(
      "ghost text: "
        .. (ghost.backend() == "builtin" and "vim.lsp.inline_completion (0.12+)" or "extmarks (streamed chunks)")
    )
  else
    health.info("ghost text: disabled")
  end

  health.start("codehearth: server")
  local cmd = o.cmd
  if type(cmd) ~= "table" or #cmd == 0 then
    health.error("`cmd` must be a list such as { 'codehearth', 'serve' }")
    return
  end
  local exe = vim.fn.exepath(cmd[1])
  if exe == "" then
    health.error(("server command not found: %s"):format(cmd[1]), {
      "pip install codehearth (or `make install` in a checkout), then make sure it is on $PATH",
      "or set cmd = { '/path/to/codehearth', 'serve' } in setup()",
    })
    return
  end
  health.ok(("server command: %s (%s)"):format(table.concat(cmd, " "), exe))
  local base = base_cmd(cmd)
  local out, err = run(vim.list_extend(vim.deepcopy(base), { "--version" }))
  if out then
    health.ok("version: " .. vim.trim(out))
  else
    health.warn("could not read the server version: " .. tostring(err))
  end

  health.start("codehearth: model")
  local want = o.model or (o.settings and o.settings.model) or "default"
  if want:match("%.gguf$") or want:find("/", 1, true) then
    if vim.fn.filereadable(vim.fn.expand(want)) == 1 then
      health.ok("model file " .. want)
    else
      health.error("model file not found: " .. want)
    end
  else
    local argv = vim.list_extend(vim.deepcopy(base), { "models", "path", want })
    local dir = o.settings and o.settings.modelDir
    if type(dir) == "string" and dir ~= "" then
      vim.list_extend(argv, { "--dir", dir })
    end
    out, err = run(argv)
    if not out then
      health.error(("model %s: %s"):format(want, tostring(err)), { "see: codehearth models list" })
    else
      local path = vim.trim(out)
      if vim.fn.filereadable(path) == 1 then
        health.ok(("model %s found at %s"):format(want, path))
      else
        health.error(("model %s is not downloaded (%s missing)"):format(want, path), {
          ("run: %s models pull %s"):format(table.concat(base, " "), want),
        })
      end
    end
  end

  health.start("codehearth: running servers")
  local clients = require("codehearth.lsp").all_clients()
  if #clients == 0 then
    health.info("no codehearth server running (open a file of a supported filetype: "
      .. table.concat(o.filetypes, ", ") .. ")")
  end
  for _, client in ipairs(clients) do
    local res = require("codehearth.lsp").request_sync(client, "codehearth/stats", vim.NIL, 3000)
    local stats = res and res.result
    if type(stats) == "table" then
      local line = ("client %d: model %s, state %s, %s requests, p50 %s ms"):format(
        client.id,
        tostring(stats.model),
        tostring(stats.state),
        tostring(stats.requests),
        tostring(type(stats.latencyMs) == "table" and stats.latencyMs.p50 or "-")
      )
      if stats.state == "error" then
        health.error(line .. ": " .. tostring(stats.error))
      elseif stats.state == "ready" then
        health.ok(line)
      else
        health.info(line)
      end
    else
      health.warn(("client %d: no answer to codehearth/stats"):format(client.id))
    end
  end
end

return M
