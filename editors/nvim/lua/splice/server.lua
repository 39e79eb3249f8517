-- Where splice-lsp is: g:splice_server, else `splice-lsp` on $PATH, else the release build of the
-- repository this plugin lives in (editors/nvim -> ../../target/release/splice-lsp).
local M = {}

local function plugin_root()
  local source = debug.getinfo(1, 'S').source
  if source:sub(1, 1) == '@' then
    source = source:sub(2)
  end
  -- <root>/lua/splice/server.lua
  return vim.fn.fnamemodify(source, ':p:h:h:h')
end

M.plugin_root = plugin_root

--- The repository's build, whether or not it exists.
function M.repository_build()
  return vim.fn.simplify(plugin_root() .. '/../../target/release/splice-lsp')
end

--- The server to start and where that choice came from.
--- @return string path, string origin
function M.path()
  local configured = vim.g.splice_server
  if type(configured) == 'string' and configured ~= '' then
    return vim.fn.expand(configured), 'g:splice_server'
  end
  if vim.fn.executable('splice-lsp') == 1 then
    return 'splice-lsp', '$PATH'
  end
  local build = M.repository_build()
  if vim.fn.executable(build) == 1 then
    return build, 'repository build'
  end
  return 'splice-lsp', 'not found'
end

return M
