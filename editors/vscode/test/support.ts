// What the tests share: package.json as they read it, and where splice-lsp and Python are.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** editors/vscode, from out/test/ or out/test/<kind>/. */
export const ROOT = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`no package.json above ${__dirname}`);
    }
    dir = parent;
  }
  return dir;
})();

export interface Manifest {
  main: string;
  engines: { vscode: string };
  activationEvents: string[];
  contributes: {
    commands: { command: string; title: string; category?: string }[];
    keybindings: { command: string; key: string; mac?: string; when?: string }[];
    menus: { commandPalette: { command: string; when?: string }[] };
    configuration: { properties: Record<string, { default?: unknown; type: string | string[] }> };
  };
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
}

export function manifest(): Manifest {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;
}

/** The `splice` section as VS Code gives it with no user settings: keys without `splice.`. */
export function manifestDefaults(): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, property] of Object.entries(manifest().contributes.configuration.properties)) {
    values[key.replace(/^splice\./, '')] = property.default;
  }
  return values;
}

/** The repository's root. */
export const REPO = path.resolve(ROOT, '..', '..');

/** The splice-lsp the tests start: $SPLICE_LSP, else the one `make server` builds. */
export const SERVER = path.resolve(process.env.SPLICE_LSP ?? path.join(REPO, 'target', 'release', 'splice-lsp'));

/** Why the tests that need splice-lsp are skipped, or false when it is there. */
export const SERVER_MISSING: string | false = fs.existsSync(SERVER)
  ? false
  : `splice-lsp not found at ${SERVER}: run \`make server\` at the repository's root, or set SPLICE_LSP to the binary`;

/**
 * A Python with the splice agent installed, for the steps with a running program:
 * $SPLICE_TEST_PYTHON, else the repository's .venv (`make wheel`); or why there is none.
 */
export function pythonWithAgent(): { python: string; why?: undefined } | { python?: undefined; why: string } {
  const candidates = process.env.SPLICE_TEST_PYTHON
    ? [process.env.SPLICE_TEST_PYTHON]
    : [path.join(REPO, '.venv', 'bin', 'python'), path.join(REPO, '.venv', 'Scripts', 'python.exe')];
  for (const python of candidates) {
    if (fs.existsSync(python) && spawnSync(python, ['-c', 'import splice._agent'], { stdio: 'ignore' }).status === 0) {
      return { python };
    }
  }
  return {
    why: `no Python with the splice agent (tried ${candidates.join(', ')}): run \`make wheel\` at the repository's root, or set SPLICE_TEST_PYTHON`,
  };
}
