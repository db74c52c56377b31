// Replays every committed history (tests/histories/*.json) against today's workflow code: a change
// that would break journeys already running in the world fails here (use `patched` instead). They
// replay through the payload codec, as production's workers run: their payloads, recorded before the
// codec, are clear and pass through it.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { DATA_CONVERTER, workflowBundle } from './support/temporal.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'histories');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

describe('replay of committed histories', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('%s replays deterministically', async (file) => {
    const history = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { events: { eventType: string }[] };
    const types = history.events.map((e) => e.eventType);
    expect(types.length).toBeGreaterThan(10);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter: DATA_CONVERTER }, history, `replay-${file}`);
  });
});
