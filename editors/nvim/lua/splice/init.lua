-- Splice for Neovim: a thin client of splice-lsp. The server does the work (finding programs,
-- patching, diagnostics); this module starts it on Neovim 0.7-0.10, runs its commands and keeps
-- the last `splice/patchResult` for the statusline. setup() is optional.
local M = {}

local api = vim.api
local uv = vim.uv or vim.loop
local levels = vim.log.levels

local function has(version)
  return vim.fn.has('nvim-' .. version) == 1
end

--- Neovim 0.11+: the client comes from vim.lsp.config/vim.lsp.enable and lsp/splice.lua.
M.native = has('0.11') and type(vim.lsp.enable) == 'function' and vim.lsp.config ~= nil
-- Neovim 0.11 made the client's functions methods (client:request); 0.7-0.10 have closures.
local methods = has('0.11')

M.options = {
  -- 'commands': a message for :Splice commands; 'all': also after each save; 'off': none.
  notify = 'commands',
}

-- Client fields set through setup() (Neovim 0.7-0.10; 0.11+ keeps them in vim.lsp.config).
local overrides = {}
-- Last patch results: the latest overall and the latest per document URI.
local state = { count = 0, last = nil, by_uri = {} }
M._state = state

local function notify(message, level)
  vim.notify(message, level or levels.INFO, { title = 'splice' })
end

-- Client API across versions ------------------------------------------------------------------

local function request(client, method, params, handler, bufnr)
  if methods then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function client_notify(client, method, params)
  if methods then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- The splice-lsp clients attached to `bufnr`, or all of them when `bufnr` is nil.
function M.clients(bufnr)
  if bufnr == 0 then
    bufnr = api.nvim_get_current_buf()
  end
  if vim.lsp.get_clients then -- 0.10+
    return vim.lsp.get_clients({ name = 'splice', bufnr = bufnr })
  end
  local found = {}
  local all = bufnr and vim.lsp.buf_get_clients(bufnr) or vim.lsp.get_active_clients()
  for _, client in pairs(all) do
    if client.name == 'splice' then
      table.insert(found, client)
    end
  end
  return found
end

--- The splice-lsp client of `bufnr` (default: current buffer), if any.
function M.client(bufnr)
  return M.clients(bufnr or 0)[1]
end

-- Configuration -------------------------------------------------------------------------------

local function base_config()
  return dofile(require('splice.server').plugin_root() .. '/lsp/splice.lua')
end

--- The effective client configuration: lsp/splice.lua with the user's overrides.
function M.config()
  if M.native then
    local resolved = vim.lsp.config['splice']
    if resolved then
      return vim.deepcopy(resolved)
    end
  end
  return vim.tbl_deep_extend('force', base_config(), overrides)
end

--- Optional. opts: server (path) or cmd (list), settings (the `splice` section: patchOnSave,
--- runtimeDir, agents, pids, successHints, requestTimeoutMs), root_markers, on_attach,
--- capabilities, cmd_env, lsp (any other client field), notify ('commands' | 'all' | 'off').
function M.setup(opts)
  opts = opts or {}
  if opts.notify ~= nil then
    M.options.notify = opts.notify
  end
  local fields = vim.deepcopy(opts.lsp or {})
  for _, key in ipairs({ 'cmd', 'root_markers', 'on_attach', 'capabilities', 'cmd_env' }) do
    if opts[key] ~= nil then
      fields[key] = opts[key]
    end
  end
  if opts.server then
    fields.cmd = { vim.fn.expand(opts.server) }
  end
  if opts.settings then
    fields.settings = { splice = opts.settings.splice or opts.settings }
  end
  overrides = vim.tbl_deep_extend('force', overrides, fields)
  if M.native then
    vim.lsp.config('splice', fields)
  end
  -- Running servers take new settings at once.
  if fields.settings then
    local settings = M.config().settings
    for _, client in ipairs(M.clients()) do
      client.config.settings = settings
      if client.settings ~= nil then -- 0.11+
        client.settings = settings
      end
      client_notify(client, 'workspace/didChangeConfiguration', { settings = settings })
    end
  end
end

-- Starting the client on Neovim 0.7-0.10 ------------------------------------------------------

-- One client per root folder, like vim.lsp.start and vim.lsp.enable.
local by_root = {}

local function exists(path)
  return uv.fs_stat(path) ~= nil
end

--- The nearest folder above `path` holding a marker; markers earlier in the list win, markers in
--- a nested list are equal (as root_markers of Neovim 0.11).
function M.find_root(path, markers)
  local start = vim.fn.fnamemodify(path, ':p:h')
  for _, group in ipairs(markers or {}) do
    if type(group) ~= 'table' then
      group = { group }
    end
    local dir = start
    while true do
      for _, marker in ipairs(group) do
        if exists(dir .. '/' .. marker) then
          return dir
        end
      end
      local parent = vim.fn.fnamemodify(dir, ':h')
      if parent == dir then
        break
      end
      dir = parent
    end
  end
  return nil
end

local warned_missing = false

--- Attaches splice-lsp to `bufnr` (default: current), starting it for the buffer's root folder
--- if needed. plugin/splice.lua calls this on FileType python before Neovim 0.11.
function M.start(bufnr)
  if bufnr == nil or bufnr == 0 then
    bufnr = api.nvim_get_current_buf()
  end
  if not api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  local name = api.nvim_buf_get_name(bufnr)
  if name == '' then
    return nil
  end
  local config = M.config()
  if not vim.tbl_contains(config.filetypes or { 'python' }, vim.bo[bufnr].filetype) then
    return nil
  end
  local attached = M.client(bufnr)
  if attached then
    return attached.id
  end
  local root = M.find_root(name, config.root_markers) or vim.fn.fnamemodify(name, ':p:h')
  if type(config.root_dir) ~= 'string' then
    config.root_dir = root
  end
  root = config.root_dir
  if M.native then
    config.name = 'splice'
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = by_root[root]
  if not (id and vim.lsp.get_client_by_id(id)) then
    if type(config.cmd) == 'table' and vim.fn.executable(config.cmd[1]) ~= 1 then
      if not warned_missing then
        warned_missing = true
        notify(
          ('splice-lsp not found (%s): build it (make server), put it on $PATH or set '
            .. 'g:splice_server; see :checkhealth splice'):format(config.cmd[1]),
          levels.ERROR
        )
      end
      return nil
    end
    config.name = 'splice'
    local on_exit = config.on_exit
    config.on_exit = function(code, signal, client_id)
      if by_root[root] == client_id then
        by_root[root] = nil
      end
      if type(on_exit) == 'function' then
        on_exit(code, signal, client_id)
      end
    end
    config.filetypes, config.root_markers = nil, nil
    id = vim.lsp.start_client(config)
    if not id then
      return nil
    end
    by_root[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

-- Patch results -------------------------------------------------------------------------------

local order = { 'patched', 'added', 'reverted', 'refused', 'error', 'not-loaded' }

local function tally(result)
  local counts, failed = {}, 0
  for _, agent in ipairs(result.agents or {}) do
    if agent.error then
      failed = failed + 1
    end
    for _, def in ipairs(agent.definitions or {}) do
      counts[def.status] = (counts[def.status] or 0) + 1
    end
  end
  return counts, failed
end

--- One line for a statusline: "splice: 1 patched, 1 refused", "" before any result.
function M.summary(result)
  if type(result) ~= 'table' then
    return ''
  end
  -- Decided on codes (status, notLoaded.reason), never on the sentences, which are for people.
  local not_loaded = type(result.notLoaded) == 'table' and result.notLoaded.reason
  if not_loaded == 'no-program' then
    return 'splice: no program'
  end
  if not_loaded then
    return 'splice: not loaded'
  end
  local counts, failed = tally(result)
  -- What did not change is no news.
  counts.unchanged = nil
  local parts = {}
  for _, status in ipairs(order) do
    if counts[status] then
      table.insert(parts, ('%d %s'):format(counts[status], status))
      counts[status] = nil
    end
  end
  for status, n in pairs(counts) do
    table.insert(parts, ('%d %s'):format(n, status))
  end
  if failed > 0 then
    table.insert(parts, ('%d agent error%s'):format(failed, failed > 1 and 's' or ''))
  end
  if #parts == 0 then
    return 'splice: no changes'
  end
  return 'splice: ' .. table.concat(parts, ', ')
end

--- A message: one line for one definition ("splice: greet patched in pid 4242 (app.py)"), else
--- the summary and a line per definition and per program that failed.
function M.describe(result)
  if type(result) ~= 'table' then
    return 'splice: no patch yet'
  end
  if type(result.notLoaded) == 'table' then
    return 'splice: ' .. (result.notLoaded.message or result.notLoaded.reason or 'not loaded')
  end
  local details = {}
  for _, agent in ipairs(result.agents or {}) do
    -- `program` reads "pid 4242 (app.py)".
    local who = agent.program or ('pid ' .. tostring(agent.pid))
    if agent.error then
      table.insert(details, ('%s: %s'):format(who, agent.error))
    end
    for _, def in ipairs(agent.definitions or {}) do
      if def.status ~= 'unchanged' then
        local line = ('%s %s in %s'):format(def.qualname, def.status, who)
        if def.message and def.message ~= '' then
          line = line .. ': ' .. def.message
        end
        table.insert(details, line)
      end
    end
  end
  if #details == 0 then
    return M.summary(result)
  end
  if #details == 1 then
    return 'splice: ' .. details[1]
  end
  return M.summary(result) .. '\n' .. table.concat(details, '\n')
end

local function level_of(result)
  local counts, failed = tally(result)
  if failed > 0 or counts.refused or counts.error then
    return levels.WARN
  end
  return levels.INFO
end

--- The last result for `bufnr` (0: current buffer), or the last of all when `bufnr` is nil.
function M.last_result(bufnr)
  if bufnr == nil then
    return state.last
  end
  if bufnr == 0 then
    bufnr = api.nvim_get_current_buf()
  end
  return state.by_uri[vim.uri_from_bufnr(bufnr)]
end

--- Statusline text from the last splice/patchResult (of `bufnr` if given, 0: current buffer):
--- set statusline+=%{v:lua.require'splice'.status()}
function M.status(bufnr)
  return M.summary(M.last_result(bufnr))
end

--- Asks splice-lsp again for the lenses of `bufnr` (default: current) if it is attached there:
--- whether the programs run each definition (the server's `codeLens` setting).
function M.refresh_lenses(bufnr)
  if bufnr == nil or bufnr == 0 then
    bufnr = api.nvim_get_current_buf()
  end
  if not (api.nvim_buf_is_valid(bufnr) and M.client(bufnr)) then
    return
  end
  -- 0.10+ takes the buffer; before, it refreshes the current one.
  if not pcall(vim.lsp.codelens.refresh, { bufnr = bufnr }) and bufnr == api.nvim_get_current_buf() then
    pcall(vim.lsp.codelens.refresh)
  end
end

--- Handler of the splice/patchResult notification (lsp/splice.lua).
function M.on_patch_result(err, result, _)
  if err or type(result) ~= 'table' then
    return
  end
  if result.uri then
    M.refresh_lenses(vim.uri_to_bufnr(result.uri))
  end
  state.count = state.count + 1
  state.last = result
  if result.uri then
    state.by_uri[result.uri] = result
  end
  if M.options.notify == 'all' and result.trigger == 'save' then
    notify(M.describe(result), level_of(result))
  end
  pcall(vim.cmd, 'redrawstatus!')
  if vim.fn.exists('#User#SplicePatchResult') == 1 then
    local ok = pcall(api.nvim_exec_autocmds, 'User', {
      pattern = 'SplicePatchResult',
      modeline = false,
      data = result, -- 0.8+
    })
    if not ok then
      pcall(api.nvim_exec_autocmds, 'User', { pattern = 'SplicePatchResult', modeline = false })
    end
  end
end

-- Commands ------------------------------------------------------------------------------------

local function attached()
  local bufnr = api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    notify(
      'splice-lsp is not attached to this buffer (is it a Python file? see :checkhealth splice)',
      levels.WARN
    )
  end
  return client, bufnr
end

--- The cursor of window `win` (0: current) as an LSP position in `encoding`: the line is
--- 0-based, the column counts UTF-16 code units, UTF-8 bytes or code points as negotiated.
function M.position(win, encoding)
  return vim.lsp.util.make_position_params(win or 0, encoding or 'utf-16').position
end

local function execute(client, bufnr, command, arguments)
  request(client, 'workspace/executeCommand', {
    command = command,
    arguments = arguments,
  }, function(err, result)
    if err then
      notify('splice: ' .. (err.message or tostring(err)), levels.WARN)
      return
    end
    if M.options.notify ~= 'off' then
      notify(M.describe(result), level_of(result))
    end
  end, bufnr)
end

--- Patches the function at the cursor from the buffer as it is, saved or not.
function M.patch()
  local client, bufnr = attached()
  if client then
    execute(client, bufnr, 'splice.patchFunction', {
      { uri = vim.uri_from_bufnr(bufnr), position = M.position(0, client.offset_encoding) },
    })
  end
end

--- Patches every definition of the buffer that differs from the running program.
function M.patch_file()
  local client, bufnr = attached()
  if client then
    execute(client, bufnr, 'splice.patchFile', { { uri = vim.uri_from_bufnr(bufnr) } })
  end
end

--- Puts back the body the function at the cursor had before its last patch.
function M.revert()
  local client, bufnr = attached()
  if client then
    execute(client, bufnr, 'splice.revertFunction', {
      { uri = vim.uri_from_bufnr(bufnr), position = M.position(0, client.offset_encoding) },
    })
  end
end

local function format_agents(agents)
  if #agents == 0 then
    return 'splice: no running program has the agent; start one with `python -m splice app.py`'
  end
  local lines = { ('splice: %d running program%s'):format(#agents, #agents > 1 and 's' or '') }
  -- Trees: each root (`gunicorn (pid 10): 2 workers`), then the processes below it.
  local ordered = vim.deepcopy(agents)
  table.sort(ordered, function(a, b)
    local ra, rb = a.rootPid or a.pid, b.rootPid or b.pid
    if ra ~= rb then
      return ra < rb
    end
    if (a.pid == ra) ~= (b.pid == rb) then
      return a.pid == ra
    end
    return a.pid < b.pid
  end)
  for _, agent in ipairs(ordered) do
    local python = (agent.pythonVersion or ''):match('^%S+') or '?'
    if agent.pid == (agent.rootPid or agent.pid) then
      local tree = agent.tree ~= nil and agent.tree ~= '' and agent.tree
        or ('%s (pid %s)'):format(agent.program, agent.pid)
      table.insert(lines, ('  %s  Python %s  in %s'):format(tree, python, agent.cwd))
    else
      table.insert(lines, ('    └ pid %s  %s'):format(agent.pid, agent.program))
    end
  end
  return table.concat(lines, '\n')
end

--- Lists the running programs with the agent; `callback(err, agents)` instead of a message.
function M.agents(callback)
  local bufnr = api.nvim_get_current_buf()
  local client = M.client(bufnr) or M.clients()[1]
  if not client then
    notify('splice-lsp is not running: open a Python file first', levels.WARN)
    return
  end
  request(client, 'workspace/executeCommand', {
    command = 'splice.listAgents',
    arguments = {},
  }, function(err, result)
    if callback then
      return callback(err, result)
    end
    if err then
      notify('splice: ' .. (err.message or tostring(err)), levels.WARN)
      return
    end
    notify(format_agents(result or {}))
  end, bufnr)
end

--- Shows the last result for this buffer (else the last of all) and the client's state.
function M.show_status()
  local result = M.last_result(0) or state.last
  local client = M.client(0)
  local lines = { M.describe(result) }
  if client then
    table.insert(
      lines,
      ('splice-lsp attached (client %d, %s positions, root %s)'):format(
        client.id,
        client.offset_encoding or '?',
        client.config.root_dir or '-'
      )
    )
  else
    table.insert(lines, 'splice-lsp is not attached to this buffer')
  end
  notify(table.concat(lines, '\n'))
end

M.subcommands = {
  patch = M.patch,
  ['patch-file'] = M.patch_file,
  revert = M.revert,
  agents = function()
    M.agents()
  end,
  status = M.show_status,
}
local names = { 'patch', 'patch-file', 'revert', 'agents', 'status' }

--- :Splice {subcommand}; no argument shows the status.
function M.command(fargs)
  local name = fargs[1] or 'status'
  local run = M.subcommands[name]
  if not run then
    notify(
      ('splice: unknown subcommand %q; use one of %s'):format(name, table.concat(names, ', ')),
      levels.ERROR
    )
    return
  end
  run()
end

function M.complete(lead, line)
  -- Only the first argument.
  if line and line:match('^%s*%S+%s+%S+%s') then
    return {}
  end
  return vim.tbl_filter(function(name)
    return name:sub(1, #lead) == lead
  end, names)
end

return M
