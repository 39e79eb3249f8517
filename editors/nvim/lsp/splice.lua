-- The client configuration of splice-lsp, as a plain table.
--
-- Neovim 0.11+: found on 'runtimepath' by vim.lsp.config and started by vim.lsp.enable('splice')
-- (plugin/splice.lua enables it unless g:splice_autostart is v:false). Override any field with
-- vim.lsp.config('splice', {...}) or require('splice').setup({...}).
-- Neovim 0.7-0.10: lua/splice/init.lua starts a client from this same table on FileType python.
return {
  -- g:splice_server, else splice-lsp on $PATH, else this repository's target/release build.
  cmd = { (require('splice.server').path()) },
  filetypes = { 'python' },
  root_markers = { 'pyproject.toml', 'setup.py', 'setup.cfg', 'requirements.txt', '.git' },
  -- Section `splice`, sent as initializationOptions (see before_init) and, on Neovim 0.11+, in
  -- workspace/didChangeConfiguration. Keys: patchOnSave, runtimeDir, agents ("all" |
  -- "workspace" | "pids"), pids, successHints ("all" | "off"), requestTimeoutMs.
  settings = {
    splice = {
      patchOnSave = true,
    },
  },
  before_init = function(params, config)
    -- initializationOptions follow the settings as merged with the user's, unless set apart.
    if config.init_options == nil and config.settings and config.settings.splice then
      params.initializationOptions = config.settings.splice
    end
  end,
  on_init = function(client, result)
    -- Neovim before 0.9 does not read the LSP 3.17 positionEncoding; the server answers the
    -- encoding it chose, so follow it whatever the version.
    local chosen = result and result.capabilities and result.capabilities.positionEncoding
    if type(chosen) == 'string' and client.offset_encoding ~= chosen then
      client.offset_encoding = chosen
    end
    -- Once the buffer that started the client is attached: its lenses.
    vim.schedule(function()
      require('splice').refresh_lenses(0)
    end)
  end,
  handlers = {
    ['splice/patchResult'] = function(err, result, ctx)
      require('splice').on_patch_result(err, result, ctx)
    end,
  },
}
