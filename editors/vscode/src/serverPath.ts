// Which splice-lsp to run: the `splice.serverPath` setting, else the binary bundled in the
// extension (`server/splice-lsp`), else `splice-lsp` on PATH. No `vscode` here: the file system
// and the environment come in through `Lookup`.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { expandHome } from './settings';

export interface Lookup {
  platform: NodeJS.Platform;
  /** The PATH environment variable. */
  pathEnv: string | undefined;
  /** PATHEXT on Windows. */
  pathExt?: string;
  /** Whether an executable file is at this absolute path. */
  isExecutable(file: string): boolean;
  home?: string;
}

export type ServerSource = 'setting' | 'bundled' | 'path';

export type Resolution =
  | { ok: true; path: string; source: ServerSource }
  | { ok: false; message: string };

export function binaryName(platform: NodeJS.Platform): string {
  return platform === 'win32' ? 'splice-lsp.exe' : 'splice-lsp';
}

/** Where a packaged extension carries its own server. */
export function bundledPath(extensionPath: string, platform: NodeJS.Platform): string {
  return pathFor(platform).join(extensionPath, 'server', binaryName(platform));
}

function pathFor(platform: NodeJS.Platform): path.PlatformPath {
  return platform === 'win32' ? path.win32 : path.posix;
}

export function findOnPath(name: string, lookup: Lookup): string | undefined {
  const pathApi = pathFor(lookup.platform);
  const separator = lookup.platform === 'win32' ? ';' : ':';
  const extensions =
    lookup.platform === 'win32' && !/\.[^\\/]+$/.test(name)
      ? (lookup.pathExt ?? '.EXE;.CMD;.BAT;.COM').split(';').filter(Boolean)
      : [''];
  for (const dir of (lookup.pathEnv ?? '').split(separator)) {
    if (dir === '' || !pathApi.isAbsolute(dir)) {
      continue; // an empty or relative entry means "the current folder": never trust it
    }
    for (const ext of extensions) {
      const candidate = pathApi.join(dir, name + ext);
      if (lookup.isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

export const INSTALL_HINT =
  'Build it from a Splice checkout with `cargo install --path .` (puts splice-lsp on your PATH) ' +
  'or `make server` (target/release/splice-lsp), or set "splice.serverPath" to the executable.';

/**
 * `setting` is `splice.serverPath` as the user wrote it: an absolute path (`~` expanded) or a
 * bare name looked up on PATH. Never a path relative to the workspace: opening a folder must not
 * choose which program runs. A setting that points nowhere is an error, never a reason to run
 * some other splice-lsp.
 */
export function resolveServerPath(setting: string | undefined, extensionPath: string, lookup: Lookup): Resolution {
  const configured = (setting ?? '').trim();
  if (configured !== '') {
    const pathApi = pathFor(lookup.platform);
    const expanded = expandHome(configured, lookup.home);
    let file: string;
    if (pathApi.isAbsolute(expanded)) {
      file = expanded;
    } else if (!/[\\/]/.test(expanded)) {
      const found = findOnPath(expanded, lookup);
      if (found === undefined) {
        return {
          ok: false,
          message: `"splice.serverPath" is "${configured}", and no ${configured} is on PATH. ${INSTALL_HINT}`,
        };
      }
      file = found;
    } else {
      return {
        ok: false,
        message: `"splice.serverPath" is "${configured}", a relative path: set it to the absolute path of splice-lsp.`,
      };
    }
    if (lookup.isExecutable(file)) {
      return { ok: true, path: file, source: 'setting' };
    }
    return {
      ok: false,
      message: `"splice.serverPath" is "${configured}", but ${file} is not an executable file. ${INSTALL_HINT}`,
    };
  }
  const bundled = bundledPath(extensionPath, lookup.platform);
  if (lookup.isExecutable(bundled)) {
    return { ok: true, path: bundled, source: 'bundled' };
  }
  const onPath = findOnPath(binaryName(lookup.platform), lookup);
  if (onPath) {
    return { ok: true, path: onPath, source: 'path' };
  }
  return {
    ok: false,
    message: `Cannot find splice-lsp, the Splice language server: "splice.serverPath" is not set, the extension has no bundled server, and splice-lsp is not on PATH. ${INSTALL_HINT}`,
  };
}

/** How to start the server: LSP on stdio. The extension and the tests both use this. */
export function serverCommand(serverPath: string): { command: string; args: string[] } {
  return { command: serverPath, args: ['--stdio'] };
}

/** The real file system and environment. */
export function processLookup(env: NodeJS.ProcessEnv = process.env): Lookup {
  return {
    platform: process.platform,
    pathEnv: env.PATH ?? env.Path,
    pathExt: env.PATHEXT,
    isExecutable(file: string): boolean {
      try {
        if (!fs.statSync(file).isFile()) {
          return false;
        }
        if (process.platform !== 'win32') {
          fs.accessSync(file, fs.constants.X_OK);
        }
        return true;
      } catch {
        return false;
      }
    },
  };
}
