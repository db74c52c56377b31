// Before `npm test`: the browser tests drive Debian's Chromium (CHROMIUM_PATH, default /usr/bin/chromium).
// If it is missing and this runs as root with apt-get (CI, a fresh machine of ours), it installs
// Debian's `chromium` and a CJK font (`fonts-wqy-microhei`, so Chinese pages render in screenshots);
// otherwise it says what to install and fails, rather than letting the browser tests fail obscurely.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (existsSync(path)) process.exit(0);

const packages = ['chromium', 'fonts-wqy-microhei'];
const root = typeof process.getuid === 'function' && process.getuid() === 0;
const apt = ['/usr/bin/apt-get', '/bin/apt-get'].find((p) => existsSync(p));
if (!root || !apt) {
  console.error(`[ensure-chromium] ${path} not found. The browser tests need Chromium: install Debian's packages (sudo apt-get install ${packages.join(' ')}) or set CHROMIUM_PATH to a Chromium binary.`);
  process.exit(1);
}
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const install = () => execFileSync(apt, ['install', '-y', '-q', ...packages], { stdio: 'inherit', env });
console.log(`[ensure-chromium] installing ${packages.join(', ')} with apt-get`);
try {
  install();
} catch {
  execFileSync(apt, ['update', '-q'], { stdio: 'inherit', env });
  install();
}
if (!existsSync(path)) {
  console.error(`[ensure-chromium] installed, but ${path} is still missing`);
  process.exit(1);
}
