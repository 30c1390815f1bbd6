-- Minimal init for the e2e tests: the plugin from this checkout, options from the environment.
local plugin_dir = assert(os.getenv("CODEHEARTH_PLUGIN_DIR"), "CODEHEARTH_PLUGIN_DIR")
local tests_dir = assert(os.getenv("CODEHEARTH_TEST_LUA_DIR"), "CODEHEARTH_TEST_LUA_DIR")
vim.opt.runtimepath:prepend(plugin_dir)
package.path = tests_dir .. "/?.lua;" .. package.path
vim.opt.swapfile = false
vim.opt.shadafile = "NONE"
vim.opt.more = false
vim.opt.shortmess:append("I")
vim.o.columns = 120
vim.o.lines = 40
vim.lsp.log.set_level(vim.log.levels.WARN)

-- Record notifications so tests can read errors without a UI.
_G.codehearth_test_notes = {}
local orig_notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(_G.codehearth_test_notes, { msg = msg, level = level or vim.log.levels.INFO })
  return orig_notify(msg, level, opts)
end

-- Load plugin/ files (-u skips nothing, but be explicit about order).
vim.cmd("runtime! plugin/codehearth.lua")

local setup_json = assert(os.getenv("CODEHEARTH_TEST_SETUP"), "CODEHEARTH_TEST_SETUP")
local opts = vim.json.decode(setup_json)
if os.getenv("CODEHEARTH_TEST_LSP_START") then
  vim.g.codehearth_use_lsp_start = true
end
require("codehearth").setup(opts)
