-- :checkhealth splice
local M = {}
local uv = vim.uv or vim.loop

-- vim.health.start/ok/... since 0.10; report_* before (module `health` on 0.7).
local function reporter()
  local health = vim.health
  if health == nil or (health.start == nil and health.report_start == nil) then
    health = require('health')
  end
  return {
    start = health.start or health.report_start,
    ok = health.ok or health.report_ok,
    info = health.info or health.report_info,
    warn = health.warn or health.report_warn,
    error = health.error or health.report_error,
  }
end

local function runtime_dir(settings)
  if settings and type(settings.runtimeDir) == 'string' and settings.runtimeDir ~= '' then
    return settings.runtimeDir, 'setting runtimeDir'
  end
  local env = os.getenv('SPLICE_RUNTIME_DIR')
  if env and env ~= '' then
    return env, '$SPLICE_RUNTIME_DIR'
  end
  local xdg = os.getenv('XDG_RUNTIME_DIR')
  if xdg and xdg ~= '' then
    return xdg .. '/splice', '$XDG_RUNTIME_DIR/splice'
  end
  return '/tmp/splice-' .. uv.getuid(), 'default'
end

local function records(dir)
  local found = {}
  for _, path in ipairs(vim.fn.glob(dir .. '/*.json', true, true)) do
    local ok, info = pcall(function()
      return vim.fn.json_decode(table.concat(vim.fn.readfile(path), '\n'))
    end)
    if ok and type(info) == 'table' then
      table.insert(found, info)
    end
  end
  return found
end

function M.check()
  local h = reporter()
  local splice = require('splice')

  h.start('Neovim')
  local v = vim.version()
  local version = ('%d.%d.%d'):format(v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.7') ~= 1 then
    h.error('Neovim ' .. version .. ': Splice needs 0.7 or newer')
  elseif splice.native then
    h.ok('Neovim ' .. version .. ': client from vim.lsp.config/vim.lsp.enable (lsp/splice.lua)')
  else
    h.ok('Neovim ' .. version .. ': client started by the plugin on FileType python')
  end

  h.start('splice-lsp')
  local config = splice.config()
  local cmd = config.cmd
  if type(cmd) ~= 'table' then
    h.info('cmd is a function: not checked')
  else
    local path, origin = cmd[1], 'setup()/vim.lsp.config'
    local default, default_origin = require('splice.server').path()
    if path == default then
      origin = default_origin
    end
    local resolved = vim.fn.exepath(path)
    if resolved == '' then
      h.error(('%s not found (%s)'):format(path, origin), {
        'Build it: make server (target/release/splice-lsp)',
        'Put it on $PATH, set g:splice_server, or require("splice").setup({ server = "/path" })',
      })
    else
      local out = vim.fn.system({ resolved, '--version' })
      if vim.v.shell_error == 0 then
        h.ok(('%s (%s): %s'):format(resolved, origin, vim.trim(out)))
      else
        h.error(('%s --version failed: %s'):format(resolved, vim.trim(out)))
      end
    end
  end
  local clients = splice.clients()
  if #clients == 0 then
    h.info('no splice-lsp client running (open a Python file)')
  end
  for _, client in ipairs(clients) do
    h.ok(
      ('client %d running: %s positions, root %s'):format(
        client.id,
        client.offset_encoding or '?',
        client.config.root_dir or '-'
      )
    )
  end

  h.start('Runtime folder')
  local settings = config.settings and config.settings.splice or {}
  local dir, origin = runtime_dir(settings)
  local stat = uv.fs_stat(dir)
  if not stat then
    h.info(('%s (%s) does not exist yet: no program has started the agent'):format(dir, origin))
    return
  end
  h.ok(('%s (%s)'):format(dir, origin))
  local agents = records(dir)
  if #agents == 0 then
    h.info('no agent records: start a program with `python -m splice app.py`')
  end
  for _, info in ipairs(agents) do
    local argv = type(info.argv) == 'table' and table.concat(info.argv, ' ') or '?'
    h.info(('agent pid %s: %s'):format(info.pid or '?', argv))
  end
end

return M
