-- Splice: live patching of running Python programs through splice-lsp.
-- :Splice patch | patch-file | revert | agents | status      (see :help splice)
if vim.g.loaded_splice then
  return
end
vim.g.loaded_splice = true

if vim.fn.has('nvim-0.7') ~= 1 then
  vim.api.nvim_err_writeln('splice: Neovim 0.7 or newer is required')
  return
end

-- :help splice after an install by hand (a plugin manager runs :helptags itself): the tags of
-- this plugin's doc folder, made once where they are missing and the folder is writable.
local doc = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h') .. '/doc'
if vim.fn.filereadable(doc .. '/tags') == 0 and vim.fn.filewritable(doc) == 2 then
  pcall(vim.cmd, 'silent! helptags ' .. vim.fn.fnameescape(doc))
end

vim.api.nvim_create_user_command('Splice', function(opts)
  require('splice').command(opts.fargs)
end, {
  nargs = '?',
  complete = function(lead, line)
    return require('splice').complete(lead, line)
  end,
  desc = 'Splice: patch | patch-file | revert | agents | status',
})

-- g:splice_autostart = v:false (or 0): start nothing; call require('splice').start() yourself,
-- or vim.lsp.enable('splice') on Neovim 0.11+.
local autostart = vim.g.splice_autostart
if autostart == false or autostart == 0 then
  return
end

-- Lenses above each definition (whether the programs run it) follow edits and buffer changes.
vim.api.nvim_create_autocmd({ 'BufEnter', 'InsertLeave', 'TextChanged' }, {
  group = vim.api.nvim_create_augroup('splice_lenses', { clear = true }),
  pattern = '*.py',
  callback = function(args)
    require('splice').refresh_lenses(args.buf)
  end,
  desc = 'Refresh Splice code lenses',
})

local splice = require('splice')
if splice.native then
  vim.lsp.enable('splice')
  return
end

local group = vim.api.nvim_create_augroup('splice', { clear = true })
vim.api.nvim_create_autocmd('FileType', {
  group = group,
  pattern = splice.config().filetypes or { 'python' },
  callback = function(args)
    require('splice').start(args.buf)
  end,
  desc = 'Attach splice-lsp',
})
-- Buffers opened before the plugin was loaded.
for _, buf in ipairs(vim.api.nvim_list_bufs()) do
  if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].filetype == 'python' then
    splice.start(buf)
  end
end
