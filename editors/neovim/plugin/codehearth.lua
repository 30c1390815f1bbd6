-- codehearth: commands only; the server is registered by require("codehearth").setup().
if vim.g.loaded_codehearth then
  return
end
vim.g.loaded_codehearth = true

require("codehearth").create_commands()
