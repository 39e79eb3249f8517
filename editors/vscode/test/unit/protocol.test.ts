// The protocol's words as the extension spells them, checked against the crate that defines them.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { REASONS } from '../../src/protocol';
import { ROOT } from '../support';

test("REASONS are the protocol's reason codes, in their order", () => {
  const messages = path.join(ROOT, '..', '..', 'crates', 'splice-protocol', 'src', 'messages.rs');
  const source = fs.readFileSync(messages, 'utf8');
  const block = /\nreasons! \{([^}]*)\}/.exec(source)?.[1];
  assert.ok(block !== undefined, `no reasons! block in ${messages}`);
  // `CodeReplaced,` → `code-replaced`, as serde's kebab-case renames them.
  const slugs = [...block.matchAll(/^\s*([A-Z]\w*),/gm)].map((m) => m[1].replace(/\B([A-Z])/g, '-$1').toLowerCase());
  assert.deepEqual([...REASONS], slugs);
});
