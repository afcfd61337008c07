// A real OAuth 2 authorization server for the write-back tests: oidc-provider (OpenID certified)
// issuing client_credentials tokens to one private_key_jwt client whose public keys are the
// service's own JWKS (the file named by CLIENT_JWKS_FILE, written from what /.well-known/jwks.json
// serves), and answering token introspection for the FHIR server.
// Prints one JSON line {"port": N, "token_endpoint": URL, "introspection_endpoint": URL} once listening.
import fs from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const CLIENT_ID = process.env.CLIENT_ID;
const SCOPES = (process.env.SCOPES || '').split(' ').filter(Boolean);
const jwks = JSON.parse(fs.readFileSync(process.env.CLIENT_JWKS_FILE, 'utf8'));
const [introspectionId, introspectionSecret] = (process.env.INTROSPECTION_CLIENT || ':').split(':');

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        token_endpoint_auth_method: 'private_key_jwt',
        jwks,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: SCOPES.join(' '),
      },
      {
        client_id: introspectionId,
        client_secret: introspectionSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ],
    scopes: SCOPES,
    clientAuthMethods: ['private_key_jwt', 'client_secret_basic'],
    enabledJWA: { clientAuthSigningAlgValues: ['RS384', 'ES384'] },
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      devInteractions: { enabled: false },
    },
    ttl: { ClientCredentials: 300 },
  });
  provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));
  server.on('request', provider.callback());
  process.stdout.write(
    JSON.stringify({
      port: server.address().port,
      token_endpoint: `${issuer}/token`,
      introspection_endpoint: `${issuer}/token/introspection`,
    }) + '\n',
  );
});
