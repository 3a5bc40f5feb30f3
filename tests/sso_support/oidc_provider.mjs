// A real OpenID Provider (npm oidc-provider) on 127.0.0.1 for the SSO tests.
//
// Run with the working directory tests/peers (so 'oidc-provider' resolves from its node_modules):
//   node ../sso_support/oidc_provider.mjs CONFIG.json
// CONFIG.json: {"port": 5xxxx, "issuer": "http://127.0.0.1:5xxxx",
//               "clients": [{"client_id", "client_secret", "redirect_uris": [...]}, ...],
//               "jwks": {"keys": [private JWKs]}, "cookie_key": "..."}
// Key rotation in the tests = stop this process and start it again with other "jwks".
// Any login works (dev interactions); the login becomes `sub`. A login ending in "+unverified"
// gets email_verified false. Prints "ready <issuer>" on stdout once listening.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// A bare import would resolve next to this file, not in tests/peers: resolve from the cwd.
const resolveFromPeers = createRequire(join(process.cwd(), 'package.json')).resolve;
const { default: Provider } = await import(pathToFileURL(resolveFromPeers('oidc-provider')).href);

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const clients = config.clients.map((client) => ({
  client_id: client.client_id,
  client_secret: client.client_secret,
  redirect_uris: client.redirect_uris,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: client.token_endpoint_auth_method ?? 'client_secret_basic',
}));

function claimsOf(login) {
  const base = login.replace(/\+unverified$/, '');
  return {
    sub: login,
    email: `${login}@example.test`,
    email_verified: !login.endsWith('+unverified'),
    name: `${base} Tester`,
    given_name: base,
    family_name: 'Tester',
  };
}

const provider = new Provider(config.issuer, {
  clients,
  jwks: config.jwks,
  cookies: { keys: [config.cookie_key] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // Scope claims go into the ID token itself, not only into userinfo.
  conformIdTokenClaims: false,
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return claimsOf(id); } };
  },
});

provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${config.issuer}\n`);
});

// In-memory state only: nothing to flush, so a stop is immediate (the tests restart on one port).
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
