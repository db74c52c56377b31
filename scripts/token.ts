// Development only: prints a signed token to call the API with. `npm run token -- <role> <id> [ttlSeconds]`
import { signToken } from '../api/auth.js';
import { loadConfigOrExit } from '../workers/config.js';

const ROLES = ['patient', 'doctor', 'pharmacist', 'coordinator', 'admin'] as const;
type Role = (typeof ROLES)[number];

const config = loadConfigOrExit();
if (config.env === 'production') {
  console.error('npm run token is for development only; production tokens come from your identity provider.');
  process.exit(1);
}
const [role, id, ttl] = process.argv.slice(2);
if (!role || !ROLES.includes(role as Role) || !id) {
  console.error(`usage: npm run token -- <${ROLES.join('|')}> <id> [ttlSeconds]`);
  process.exit(2);
}
console.log(await signToken(config.secrets.jwt, { role: role as Role, id }, ttl ? Number(ttl) : undefined));
