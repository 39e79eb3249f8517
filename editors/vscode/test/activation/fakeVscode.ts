// A stand-in for the `vscode` module, just enough for the bundled extension and the
// vscode-languageclient inside it to activate, start splice-lsp and run the commands. It is NOT
// VS Code: it records what the extension asks of the editor (commands, status bar, messages,
// quick picks, diagnostics) so the tests can look. Whatever it does not model explicitly is a
// no-op: unknown functions return a disposable, unknown `onX` events never fire, unknown classes
// keep their constructor's arguments.

import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Listener<T> = (value: T) => unknown;

export interface Disposable {
  dispose(): void;
}

const disposable = (run: () => void = () => undefined): Disposable => ({ dispose: run });

export class EventEmitter<T> {
  private readonly listeners = new Set<Listener<T>>();
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return disposable(() => this.listeners.delete(listener));
  };
  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      listener(value);
    }
  }
  dispose(): void {
    this.listeners.clear();
  }
}

const noEvent = (): Disposable => disposable();

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
    private readonly text: string,
  ) {}
  static file(file: string): Uri {
    return new Uri('file', file, pathToFileURL(file).href);
  }
  static parse(text: string): Uri {
    const scheme = text.slice(0, Math.max(0, text.indexOf(':')));
    return new Uri(scheme, scheme === 'file' ? fileURLToPath(text) : '', text);
  }
  get path(): string {
    return this.scheme === 'file' ? this.fsPath.split(path.sep).join('/') : new URL(this.text).pathname;
  }
  with(): this {
    return this;
  }
  toString(): string {
    return this.text;
  }
  toJSON(): unknown {
    return { scheme: this.scheme, fsPath: this.fsPath, external: this.text };
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    this.start = typeof a === 'number' ? new Position(a, b as number) : a;
    this.end = typeof a === 'number' ? new Position(c ?? 0, d ?? 0) : (b as Position);
  }
}

export class Diagnostic {
  source?: string;
  code?: unknown;
  tags?: unknown;
  relatedInformation?: unknown;
  constructor(
    readonly range: Range,
    readonly message: string,
    readonly severity: number = 0,
  ) {}
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class CancellationError extends Error {}

export class CancellationTokenSource {
  private readonly emitter = new EventEmitter<void>();
  readonly token = { isCancellationRequested: false, onCancellationRequested: this.emitter.event };
  cancel(): void {
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export class CodeActionKind {
  static readonly Empty = new CodeActionKind('');
  static readonly QuickFix = new CodeActionKind('quickfix');
  static readonly Refactor = new CodeActionKind('refactor');
  static readonly Source = new CodeActionKind('source');
  constructor(readonly value: string) {}
  append(part: string): CodeActionKind {
    return new CodeActionKind(this.value === '' ? part : `${this.value}.${part}`);
  }
  contains(other: CodeActionKind): boolean {
    return this.value === '' || other.value === this.value || other.value.startsWith(`${this.value}.`);
  }
  intersects(other: CodeActionKind): boolean {
    return this.contains(other) || other.contains(this);
  }
}

/** Any class the extension or the client only constructs or extends. */
function stubClass(name: string): unknown {
  const Stub = class {
    readonly args: unknown[];
    constructor(...args: unknown[]) {
      this.args = args;
    }
  };
  Object.defineProperty(Stub, 'name', { value: name });
  // statics, as enums use them: the member's name
  return new Proxy(Stub, {
    get: (target, prop, receiver): unknown =>
      prop in target || typeof prop === 'symbol' ? (Reflect.get(target, prop, receiver) as unknown) : prop,
  });
}

/** An object whose unknown members are no-op functions and never-firing `onX` events. */
function namespace(members: Record<string, unknown>): Record<string, unknown> {
  return new Proxy(members, {
    get: (target, prop) => {
      if (typeof prop === 'symbol' || prop in target) {
        return Reflect.get(target, prop) as unknown;
      }
      return prop.startsWith('on') ? noEvent : (): Disposable => disposable();
    },
  });
}

export interface StatusItem {
  id: string;
  text: string;
  tooltip?: unknown;
  command?: unknown;
  name?: string;
  backgroundColor?: ThemeColor;
  visible: boolean;
  show(): void;
  hide(): void;
  dispose(): void;
}

export interface Message {
  kind: 'error' | 'warning' | 'information';
  text: string;
  items: string[];
}

export interface TextDocument {
  uri: Uri;
  fileName: string;
  languageId: string;
  version: number;
  isClosed: boolean;
  isUntitled: boolean;
  isDirty: boolean;
  lineCount: number;
  eol: number;
  getText(): string;
}

interface DocumentFilter {
  language?: string;
  scheme?: string;
}

export class FakeVscode {
  readonly commands = new Map<string, (...args: unknown[]) => unknown>();
  readonly statusItems: StatusItem[] = [];
  readonly log: string[] = [];
  readonly messages: Message[] = [];
  readonly quickPicks: { items: unknown[]; options: unknown }[] = [];
  readonly diagnostics = new Map<string, Diagnostic[]>();
  readonly documents: TextDocument[] = [];
  activeTextEditor: { document: TextDocument; selection: { active: Position } } | undefined;
  readonly settings: Record<string, unknown>;
  private readonly configuration = new EventEmitter<{ affectsConfiguration(section: string): boolean }>();
  readonly module: Record<string, unknown>;

  constructor(settings: Record<string, unknown>, workspaceFolder: string) {
    this.settings = { ...settings };
    const fake = this; // eslint-disable-line @typescript-eslint/no-this-alias -- the module's getters read it
    const record = (kind: Message['kind']) => (text: string, ...items: unknown[]) => {
      this.messages.push({ kind, text, items: items.filter((i): i is string => typeof i === 'string') });
      return Promise.resolve(undefined);
    };
    const outputChannel = (name: string): Record<string, unknown> => {
      const write = (level: string) => (text: string) => this.log.push(`[${name}] ${level}${text}`);
      return namespace({
        name,
        logLevel: 2,
        onDidChangeLogLevel: noEvent,
        append: write(''),
        appendLine: write(''),
        trace: write('trace '),
        debug: write('debug '),
        info: write('info '),
        warn: write('warn '),
        error: (error: unknown) => this.log.push(`[${name}] error ${String(error)}`),
      });
    };
    const diagnosticCollection = (): Record<string, unknown> =>
      namespace({
        set: (uri: Uri, diagnostics: Diagnostic[] | undefined) => this.diagnostics.set(uri.toString(), diagnostics ?? []),
        delete: (uri: Uri) => this.diagnostics.delete(uri.toString()),
        get: (uri: Uri) => this.diagnostics.get(uri.toString()),
        has: (uri: Uri) => this.diagnostics.has(uri.toString()),
        clear: () => {
          this.diagnostics.clear();
        },
        forEach: () => undefined,
        dispose: () => undefined,
      });
    const matches = (selector: unknown, document: TextDocument): number => {
      const filters = (Array.isArray(selector) ? selector : [selector]) as (DocumentFilter | string)[];
      return filters.some((f) =>
        typeof f === 'string'
          ? f === document.languageId
          : (f.language === undefined || f.language === document.languageId) &&
            (f.scheme === undefined || f.scheme === document.uri.scheme),
      )
        ? 10
        : 0;
    };
    this.module = namespace({
      version: '1.82.0',
      Uri,
      Position,
      Range,
      Diagnostic,
      ThemeColor,
      EventEmitter,
      CancellationError,
      CancellationTokenSource,
      CodeActionKind,
      Disposable: Object.assign(
        class {
          constructor(private readonly run: () => void) {}
          dispose(): void {
            this.run();
          }
        },
        {
          from: (...items: Disposable[]) =>
            disposable(() => {
              for (const item of items) {
                item.dispose();
              }
            }),
        },
      ),
      DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 },
      StatusBarAlignment: { Left: 1, Right: 2 },
      ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
      env: namespace({ appName: 'fake vscode', language: 'en', uiKind: 1, machineId: 'test', sessionId: 'test' }),
      commands: namespace({
        registerCommand: (id: string, handler: (...args: unknown[]) => unknown) => {
          if (this.commands.has(id)) {
            throw new Error(`command '${id}' already exists`); // as VS Code does
          }
          this.commands.set(id, handler);
          return disposable(() => this.commands.delete(id));
        },
        executeCommand: (id: string, ...args: unknown[]) => {
          const handler = this.commands.get(id);
          return Promise.resolve(handler?.(...args));
        },
        getCommands: () => Promise.resolve([...this.commands.keys()]),
      }),
      window: namespace({
        get activeTextEditor() {
          return fake.activeTextEditor;
        },
        visibleTextEditors: [],
        tabGroups: namespace({ all: [] }),
        createOutputChannel: outputChannel,
        createStatusBarItem: (id: string) => {
          const item: StatusItem = {
            id,
            text: '',
            visible: false,
            show: () => (item.visible = true),
            hide: () => (item.visible = false),
            dispose: () => (item.visible = false),
          };
          this.statusItems.push(item);
          return item;
        },
        showErrorMessage: record('error'),
        showWarningMessage: record('warning'),
        showInformationMessage: record('information'),
        showQuickPick: (items: unknown[], options: unknown) => {
          this.quickPicks.push({ items, options });
          return Promise.resolve(undefined);
        },
        withProgress: (_options: unknown, task: (progress: unknown, token: unknown) => unknown) =>
          task({ report: () => undefined }, new CancellationTokenSource().token),
      }),
      workspace: namespace({
        get workspaceFolders() {
          return [{ uri: Uri.file(workspaceFolder), name: path.basename(workspaceFolder), index: 0 }];
        },
        get textDocuments() {
          return fake.documents;
        },
        getConfiguration: (section?: string) => ({
          get: (key: string, defaultValue?: unknown) => {
            const full = section === undefined ? key : `${section}.${key}`;
            const value = full.startsWith('splice.') ? this.settings[full.slice('splice.'.length)] : undefined;
            return value ?? defaultValue;
          },
          has: (key: string) => section === 'splice' && key in this.settings,
          inspect: () => undefined,
          update: () => Promise.resolve(),
        }),
        onDidChangeConfiguration: this.configuration.event,
      }),
      languages: namespace({
        match: matches,
        createDiagnosticCollection: diagnosticCollection,
      }),
    });
  }

  /** `require('vscode')`: the module, with a stub class for any capitalized name not modelled. */
  vscodeModule(): unknown {
    return new Proxy(this.module, {
      get: (target, prop) =>
        typeof prop === 'string' && /^[A-Z]/.test(prop) && !(prop in target)
          ? stubClass(prop)
          : (Reflect.get(target, prop) as unknown),
    });
  }

  openPython(file: string, text: string): TextDocument {
    const lines = text.split('\n');
    const document: TextDocument = {
      uri: Uri.file(file),
      fileName: file,
      languageId: 'python',
      version: 1,
      isClosed: false,
      isUntitled: false,
      isDirty: false,
      lineCount: lines.length,
      eol: 1,
      getText: () => text,
    };
    this.documents.push(document);
    return document;
  }

  /** Puts the cursor at `needle` in `document`, as the active editor. */
  cursorAt(document: TextDocument, needle: string): void {
    const text = document.getText();
    const before = text.slice(0, text.indexOf(needle)).split('\n');
    const active = new Position(before.length - 1, before[before.length - 1].length);
    this.activeTextEditor = { document, selection: { active } };
  }

  /** Changes `splice.*` settings, telling whoever listens, as VS Code does. */
  changeSettings(changes: Record<string, unknown>): void {
    Object.assign(this.settings, changes);
    const changed = Object.keys(changes).map((k) => `splice.${k}`);
    this.configuration.fire({
      affectsConfiguration: (section: string) =>
        changed.some((key) => key === section || key.startsWith(`${section}.`) || section.startsWith(`${key}.`)),
    });
  }
}
