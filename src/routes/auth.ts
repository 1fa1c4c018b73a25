// Sign-in, sign-out, one's own account, first-run setup; users, API tokens and the audit log (admins).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireUser, userAuth } from '../auth/access.js';
import { CmsError, codes, invalid } from '../errors.js';

type IdParams = { id: string };

const where = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers['user-agent'] });

function noQuery(request: FastifyRequest): void {
  const keys = Object.keys((request.query ?? {}) as object);
  if (keys.length) throw invalid(codes.queryUnknownParam, `Unknown query parameter: ${keys.join(', ')}`, keys.map((path) => ({ path, message: 'unknown query parameter' })));
}

export default async function authRoutes(app: FastifyInstance, opts: { publicUrl?: string } = {}): Promise<void> {
  const auth = app.auth;
  const audit = app.audit;

  /** Sign-in and setup come without a session, so CSRF is checked here: a foreign Origin is refused. */
  const sameOriginIfSent = (request: FastifyRequest) => {
    const origin = request.headers.origin;
    const own = opts.publicUrl ? new URL(opts.publicUrl).origin : `${request.protocol}://${request.host}`;
    if (origin !== undefined && origin !== own) throw new CmsError('forbidden', codes.csrf, 'Sign-in must come from this site', [{ path: 'origin', message: 'foreign origin' }]);
  };

  app.post('/api/auth/login', async (request, reply) => {
    noQuery(request);
    sameOriginIfSent(request);
    const email = typeof (request.body as { email?: unknown })?.email === 'string' ? String((request.body as { email: string }).email).trim().toLowerCase().slice(0, 254) : undefined;
    try {
      const { user, cookie } = await auth.login(request.body, request.ip);
      await audit.record(userAuth(user), where(request), 'login', { kind: 'user', id: user._id });
      return reply.header('set-cookie', cookie).send({ data: user });
    } catch (err) {
      if (err instanceof CmsError && (err.code === codes.loginFailed || err.code === codes.rateLimited)) {
        await audit.record(request.auth, where(request), err.code === codes.loginFailed ? 'login.failed' : 'login.limited', { kind: 'user', ...(email ? { id: email } : {}) });
        if (err.code === codes.rateLimited) reply.header('retry-after', String(err.details[0]?.retryAfter ?? 60));
      }
      throw err;
    }
  });

  app.post('/api/auth/logout', async (request, reply) => {
    noQuery(request);
    if (request.auth.kind === 'user') {
      await auth.logout(request.auth);
      await audit.record(request.auth, where(request), 'logout', { kind: 'user', id: request.auth.user.id });
    }
    return reply.code(204).header('set-cookie', auth.sessions.blank()).send();
  });

  app.get('/api/auth/me', async (request) => {
    const who = request.auth;
    if (who.kind === 'user') return { data: { kind: 'user', ...(await auth.getUser(who.user.id).then((u) => ({ _id: u._id, email: u.email, name: u.name, role: u.role, status: u.status }))) } };
    if (who.kind === 'token') return { data: { kind: 'token', _id: who.token.id, name: who.token.name, scopes: who.token.scopes, ...(who.token.types ? { types: who.token.types } : {}) } };
    requireUser(who);
    return {};
  });

  app.patch('/api/auth/me', async (request) => {
    noQuery(request);
    requireUser(request.auth);
    const me = request.auth.kind === 'user' ? request.auth.user.id : '';
    const user = await auth.updateSelf(me, request.body);
    await audit.record(request.auth, where(request), 'user.update', { kind: 'user', id: me, fields: ['name'] });
    return { data: user };
  });

  app.post('/api/auth/password', async (request, reply) => {
    noQuery(request);
    requireUser(request.auth);
    const me = request.auth.kind === 'user' ? request.auth.user.id : '';
    const { cookie } = await auth.changePassword(me, request.body);
    await audit.record(request.auth, where(request), 'password.change', { kind: 'user', id: me });
    return reply.code(204).header('set-cookie', cookie).send();
  });

  app.post('/api/auth/setup', async (request, reply) => {
    noQuery(request);
    sameOriginIfSent(request);
    const { user, cookie } = await auth.setup(request.body);
    await audit.record(userAuth(user), where(request), 'setup', { kind: 'user', id: user._id });
    return reply.code(201).header('set-cookie', cookie).send({ data: user });
  });

  // --- users (admins) ---

  const admin = (request: FastifyRequest) => requireUser(request.auth, ['admin']);

  app.get('/api/users', async (request) => {
    admin(request);
    noQuery(request);
    return { data: await auth.listUsers() };
  });

  app.post('/api/users', async (request, reply) => {
    admin(request);
    noQuery(request);
    const user = await auth.createUser(request.body);
    await audit.record(request.auth, where(request), 'user.create', { kind: 'user', id: user._id, fields: ['email', 'name', 'role'] });
    return reply.code(201).header('location', `/api/users/${user._id}`).send({ data: user });
  });

  app.get<{ Params: IdParams }>('/api/users/:id', async (request) => {
    admin(request);
    noQuery(request);
    const u = await auth.getUser(request.params.id);
    return { data: { _id: u._id, email: u.email, name: u.name, role: u.role, status: u.status, createdAt: u.createdAt, updatedAt: u.updatedAt } };
  });

  app.patch<{ Params: IdParams }>('/api/users/:id', async (request) => {
    admin(request);
    noQuery(request);
    const { user, changed } = await auth.updateUser(request.params.id, request.body);
    await audit.record(request.auth, where(request), 'user.update', { kind: 'user', id: user._id, fields: changed });
    return { data: user };
  });

  app.delete<{ Params: IdParams }>('/api/users/:id', async (request, reply: FastifyReply) => {
    admin(request);
    noQuery(request);
    const user = await auth.deleteUser(request.params.id);
    await audit.record(request.auth, where(request), 'user.delete', { kind: 'user', id: user._id });
    return reply.code(204).send();
  });

  // --- API tokens (admins) ---

  app.get('/api/tokens', async (request) => {
    admin(request);
    noQuery(request);
    return { data: await auth.listTokens() };
  });

  app.post('/api/tokens', async (request, reply) => {
    admin(request);
    noQuery(request);
    const me = request.auth.kind === 'user' ? request.auth.user.id : '';
    const { token, secret } = await auth.createToken(me, request.body);
    await audit.record(request.auth, where(request), 'token.create', { kind: 'token', id: token._id, fields: ['name', 'scopes', ...(token.types ? ['types'] : []), ...(token.expiresAt ? ['expiresAt'] : [])] });
    // the secret is shown this once; only its hash is kept
    return reply.code(201).send({ data: token, secret });
  });

  app.delete<{ Params: IdParams }>('/api/tokens/:id', async (request) => {
    admin(request);
    noQuery(request);
    const token = await auth.revokeToken(request.params.id);
    await audit.record(request.auth, where(request), 'token.revoke', { kind: 'token', id: token._id });
    return { data: token };
  });

  // --- the audit log (admins) ---

  app.get('/api/audit', async (request) => {
    admin(request);
    return audit.list(request.query as Record<string, unknown>);
  });

  app.get('/api/audit.csv', async (request, reply) => {
    admin(request);
    const { limit: _limit, ...query } = request.query as Record<string, unknown>;
    const stamp = new Date().toISOString().slice(0, 10);
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="audit-${stamp}.csv"`)
      .send(audit.csv(query));
  });
}
