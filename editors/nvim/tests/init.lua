-- Neovim init for the end-to-end tests: the plugin on 'runtimepath', the server given by
-- SPLICE_NVIM_SERVER through g:splice_server (no setup() call), vim.notify recorded.
vim.opt.runtimepath:prepend(os.getenv('SPLICE_NVIM_PLUGIN'))
local server = os.getenv('SPLICE_NVIM_SERVER')
if server and server ~= '' then
  vim.g.splice_server = server
end
vim.o.swapfile = false
vim.o.shadafile = 'NONE'

_G.splice_messages = {}
vim.notify = function(message, level)
  table.insert(_G.splice_messages, { message = message, level = level })
end
