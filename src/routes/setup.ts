// The first-run page: a plain HTML form (no script) where the first admin is created with the
// one-time token the server printed. Gone once any user exists.
import { parse } from 'node:querystring';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { userAuth } from '../auth/access.js';
import { CmsError } from '../errors.js';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>CMS setup</title></head><body>${body}</body></html>`;
}

function form(token: string, values: { email?: string; name?: string }, problem?: string): string {
  return page(`<h1>Create the first admin</h1>
${problem ? `<p role="alert"><strong>${escape(problem)}</strong></p>` : ''}
<form method="post" action="/setup">
<input type="hidden" name="token" value="${escape(token)}">
<p><label>Email<br><input type="email" name="email" required autocomplete="username" value="${escape(values.email ?? '')}"></label></p>
<p><label>Name<br><input name="name" required autocomplete="name" value="${escape(values.name ?? '')}"></label></p>
<p><label>Password (at least 12 characters)<br><input type="password" name="password" required minlength="12" autocomplete="new-password"></label></p>
<p><button type="submit">Create admin</button></p>
</form>`);
}

// the page's own policy: nothing runs, the form posts only here
const CSP = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export default async function setupRoutes(app: FastifyInstance, opts: { publicUrl: string }): Promise<void> {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
    done(null, parse(body as string));
  });
  const send = (reply: FastifyReply, status: number, html: string) =>
    reply.code(status).header('content-security-policy', CSP).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html);

  app.get<{ Querystring: { token?: string } }>('/setup', { config: { auth: false } }, async (request, reply) => {
    if (await app.auth.hasUsers()) return send(reply, 404, page('<h1>Setup is done</h1><p>An admin exists: sign in instead.</p>'));
    const token = typeof request.query.token === 'string' ? request.query.token : '';
    return send(reply, 200, form(token, {}));
  });

  app.post('/setup', { config: { auth: false } }, async (request, reply) => {
    const own = opts.publicUrl ? new URL(opts.publicUrl).origin : `${request.protocol}://${request.host}`;
    if (request.headers.origin !== undefined && request.headers.origin !== own) return send(reply, 403, page('<h1>Refused</h1><p>The form must be sent from this site.</p>'));
    const fields = (request.body ?? {}) as Record<string, string | string[] | undefined>;
    const one = (k: string) => (typeof fields[k] === 'string' ? (fields[k] as string) : '');
    const input = { token: one('token'), email: one('email'), name: one('name'), password: one('password') };
    try {
      const { user, cookie } = await app.auth.setup(input);
      await app.audit.record(userAuth(user), { ip: request.ip, userAgent: request.headers['user-agent'] }, 'setup', { kind: 'user', id: user._id });
      return send(reply.header('set-cookie', cookie), 201, page(`<h1>Welcome, ${escape(user.name)}</h1><p>You are signed in as ${escape(user.email)}, the first admin.</p>`));
    } catch (err) {
      if (!(err instanceof CmsError)) throw err;
      const problem = err.details.length ? `${err.message}: ${err.details.map((d) => `${d.path.replace(/^\//, '')} ${d.message}`).join('; ')}` : err.message;
      const status = err.kind === 'not-found' ? 404 : err.kind === 'forbidden' ? 403 : 400;
      return send(reply, status, form(input.token, input, problem));
    }
  });
}
