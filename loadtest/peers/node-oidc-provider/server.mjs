// Benchmark peer: node-oidc-provider configured in memory with one confidential
// client (svc-a / bench-secret) that may use the client_credentials grant and
// token introspection. Listens on 127.0.0.1:$PEER_PORT (default 9300).
//
// Env:
//   PEER_PORT       listen port (default 9300)
//   PEER_STORE_MAX  optional: capacity of the in-memory token store. Unset =
//                   oidc-provider's built-in memory adapter as shipped (an LRU
//                   of ~1000-2000 entries; older tokens get evicted and then
//                   introspect as {"active":false}).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const PORT = Number.parseInt(process.env.PEER_PORT || '9300', 10);
const HOST = '127.0.0.1';
const ISSUER = `http://${HOST}:${PORT}`;

// Signing keys are generated at startup (nothing is signed on the measured
// paths: access tokens are opaque; the key only has to exist).
function generateJwks() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    .export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    .export({ format: 'jwk' });
  return {
    keys: [
      { ...rsa, kid: 'bench-rs256', alg: 'RS256', use: 'sig' },
      { ...ec, kid: 'bench-es256', alg: 'ES256', use: 'sig' },
    ],
  };
}

async function optionalAdapter() {
  const max = Number.parseInt(process.env.PEER_STORE_MAX || '', 10);
  if (!Number.isFinite(max) || max <= 0) return undefined; // built-in default
  // Same built-in MemoryAdapter, only with a bigger LRU behind it.
  const { default: MemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');
  const { default: LRU } = await import('oidc-provider/lib/helpers/lru.js');
  const store = new LRU({ maxSize: max });
  return (model) => new MemoryAdapter(model, store);
}

const configuration = {
  clients: [
    {
      client_id: 'svc-a',
      client_secret: 'bench-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'read write',
    },
  ],
  // 'openid' must stay in the list; read/write are the API scopes.
  scopes: ['openid', 'read', 'write'],
  claims: { openid: ['sub'] },
  jwks: generateJwks(),
  cookies: { keys: [randomBytes(32).toString('base64url'), randomBytes(32).toString('base64url')] },
  features: {
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Any authenticated confidential client may introspect (svc-a only here).
      allowedPolicy: async (ctx, client) => client.clientAuthMethod !== 'none',
    },
    // No resource indicators: scope=read yields an opaque token carrying "read".
    resourceIndicators: { enabled: false },
    devInteractions: { enabled: false },
    revocation: { enabled: false },
    registration: { enabled: false },
    userinfo: { enabled: false },
    rpInitiatedLogout: { enabled: false },
  },
  ttl: {
    AccessToken: 3600,
    ClientCredentials: 3600,
    IdToken: 3600,
    Grant: 3600,
    Session: 3600,
    Interaction: 600,
    RefreshToken: 86400,
  },
  // Not used by the client_credentials / introspection paths; defined so the
  // provider does not warn about the development defaults.
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  renderError: async (ctx, out) => {
    ctx.type = 'application/json';
    ctx.body = out;
  },
  pairwiseIdentifier: async (ctx, accountId, client) => `${accountId}:${client.clientId}`,
  clientBasedCORS: () => false,
};

const adapter = await optionalAdapter();
if (adapter) configuration.adapter = adapter;

const provider = new Provider(ISSUER, configuration);
provider.proxy = false;

// Only unexpected failures are logged; nothing per request.
provider.on('server_error', (ctx, err) => {
  console.error('server_error', err);
});

const server = http.createServer(provider.callback());
// Keep benchmark connections open (Node's default keep-alive timeout is 5 s).
server.keepAliveTimeout = 75_000;
server.headersTimeout = 76_000;
server.listen(PORT, HOST, () => {
  console.log(`oidc-provider peer listening on ${ISSUER} (pid ${process.pid}, NODE_ENV=${process.env.NODE_ENV || ''})`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
