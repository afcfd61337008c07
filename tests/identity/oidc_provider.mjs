// The OpenID provider the identity tests sign in through: npm `oidc-provider` (OpenID-certified),
// with fixed test accounts and an interaction step that signs in the account named by `login_hint`
// (or typed into a one-field form) and grants what the client asked for. Nothing is mocked on the
// protocol side: discovery, PKCE, signed ID tokens, nonce, end_session are the library's own.
//
// Usage: node oidc_provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI[,REDIRECT_URI...]
// Prints "ready <issuer>" once it listens.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirects] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const redirectUris = redirects.split(',');
const postLogout = [...new Set(redirectUris.map((uri) => new URL(uri).origin + '/clinician/sign-in?signed_out=1'))];

// `amr`: what the provider says it checked; "mfa" lets the service skip its own TOTP step.
const ACCOUNTS = {
  'dr.okafor': { name: 'Dr Ada Okafor', roles: ['sdm-clinician'], amr: ['pwd'] },
  'dr.admin': { name: 'Dr Sam Admin', roles: ['sdm-clinician', 'sdm-admin'], amr: ['pwd', 'mfa', 'otp'] },
  'dr.nomfa': { name: 'Dr Noel Nomfa', roles: ['sdm-admin'], amr: ['pwd'] },
  'visitor': { name: 'Val Visitor', roles: ['library-staff'], amr: ['pwd'] },
  // Loses the role: the tests set its roles through /test/set-roles (below) between sign-ins.
  'dr.leaver': { name: 'Dr Lee Leaver', roles: ['sdm-clinician'], amr: ['pwd'] },
};

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogout,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: {
    openid: ['sub', 'amr'],  // amr: which methods the provider checked (the service reads "mfa")
    profile: ['name', 'preferred_username', 'roles'],
  },
  // Put the scope's claims in the ID token too (as Entra ID and Keycloak do for roles).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  findAccount: async (ctx, sub) => {
    const account = ACCOUNTS[sub];
    if (!account) return undefined;
    return {
      accountId: sub,
      claims: async () => ({ sub, name: account.name, preferred_username: sub, roles: account.roles }),
    };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['test-only-cookie-key-0123456789abcdef'] },
};

const provider = new Provider(issuer, configuration);

const form = (uid) => `<!doctype html><html lang="en"><head><title>Test identity provider</title></head>
<body><h1>Test identity provider</h1><form method="post" action="/interaction/${uid}/login">
<label for="login">Username</label><input id="login" name="login" autocomplete="off">
<button type="submit">Continue</button></form></body></html>`;

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function finishLogin(req, res, login) {
  const account = ACCOUNTS[login];
  if (!account) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`unknown test account ${login}`);
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: login, amr: account.amr } }, { mergeWithLastSubmission: false });
}

async function consent(req, res, details) {
  const { prompt: { details: missing }, params, session: { accountId } } = details;
  const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const server = createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  const match = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (match && url.pathname.startsWith('/interaction/')) {
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'login') {
        if (match[2] && req.method === 'POST') return await finishLogin(req, res, (await readForm(req)).get('login'));
        if (details.params.login_hint) return await finishLogin(req, res, details.params.login_hint);
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(form(details.uid));
        return;
      }
      return await consent(req, res, details);
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
      return;
    }
  }
  // Test control: set an account's roles, e.g. none (the "leaver" whose role claim disappears).
  if (url.pathname === '/test/set-roles' && req.method === 'POST') {
    const account = ACCOUNTS[url.searchParams.get('login')];
    if (account) account.roles = (url.searchParams.get('roles') || '').split(',').filter(Boolean);
    res.writeHead(account ? 204 : 404).end();
    return;
  }
  callback(req, res);
});
server.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
