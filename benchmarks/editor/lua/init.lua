-- Init for the editor benchmark's headless Neovim: ONE completion plugin (codehearth's, or the real llama.vim from
-- a snapshot), loaded as its users load it, and the typist's helpers (editor_bench.lua).
local plugin = assert(os.getenv("EDITOR_BENCH_PLUGIN"), "EDITOR_BENCH_PLUGIN")
local helpers = assert(os.getenv("EDITOR_BENCH_LUA_DIR"), "EDITOR_BENCH_LUA_DIR")
package.path = helpers .. "/?.lua;" .. package.path
vim.opt.swapfile = false
vim.opt.shadafile = "NONE"
vim.opt.more = false
vim.opt.shortmess:append("I")
vim.o.columns = 160
vim.o.lines = 50
vim.o.hidden = true
vim.lsp.log.set_level(vim.log.levels.WARN)

-- What is typed is exactly what the passage holds: the typist types the indentation itself (with Enter), so no
-- auto-indent, no comment leader on Enter, no re-indent on ':' and no hard wrap.
vim.api.nvim_create_autocmd({ "FileType", "BufEnter" }, {
  callback = function()
    vim.bo.autoindent = false
    vim.bo.smartindent = false
    vim.bo.cindent = false
    vim.bo.indentexpr = ""
    vim.bo.indentkeys = ""
    vim.bo.formatoptions = ""
    vim.bo.textwidth = 0
  end,
})

if plugin == "codehearth" then
  vim.opt.runtimepath:prepend(assert(os.getenv("EDITOR_BENCH_PLUGIN_DIR")))
  vim.cmd("runtime! plugin/codehearth.lua")
  require("codehearth").setup(vim.json.decode(assert(os.getenv("EDITOR_BENCH_SETUP"))))
elseif plugin == "llama.vim" then
  -- llama.vim's defaults; only the endpoint points at the benchmark's llama-server.
  vim.g.llama_config = { endpoint_fim = assert(os.getenv("EDITOR_BENCH_LLAMA_ENDPOINT")) }
  vim.opt.runtimepath:prepend(assert(os.getenv("EDITOR_BENCH_PLUGIN_DIR")))
  vim.cmd("runtime! plugin/llama.vim")
elseif plugin ~= "none" then
  error("unknown plugin " .. plugin)
end
