"""The editor benchmark: a person typing into a real Neovim, codehearth's plugin beside llama.vim (issue 21)."""
