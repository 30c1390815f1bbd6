-- codehearth: commands only; the server is registered by require("codehearth").setup().
if vim.g.loaded_codehearth then
  return
end
vim.g.loaded_codehearth = true

vim.api.nvim_create_user_command("CodehearthExplain", function()
  require("codehearth").explain()
end, { desc = "codehearth: explain the function under the cursor" })

vim.api.nvim_create_user_command("CodehearthCancel", function()
  require("codehearth").cancel()
end, { desc = "codehearth: stop the running explanation" })
