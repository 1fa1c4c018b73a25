// Routes of the admin UI (served under /admin). Signed-out visitors go to login (or setup on first run).
// A data router, so the edit view can block in-app navigation (Back included) over unsaved changes;
// pages load on demand, so the login page does not fetch the form library.
import { lazy, Suspense, useEffect, type ReactNode } from 'react';
import { createBrowserRouter, Navigate, Outlet, RouterProvider, useLocation, useNavigate, useRouteError } from 'react-router-dom';
import { SESSION_EXPIRED } from './api';
import { ErrorPage } from './components/Common';
import { Layout } from './components/Layout';
import { SessionProvider, useSession } from './session';
import { ToastProvider } from './toasts';

const AuditPage = lazy(() => import('./pages/AuditPage').then((m) => ({ default: m.AuditPage })));
const EditPage = lazy(() => import('./pages/EditPage').then((m) => ({ default: m.EditPage })));
const HomePage = lazy(() => import('./pages/HomePage').then((m) => ({ default: m.HomePage })));
const ListPage = lazy(() => import('./pages/ListPage').then((m) => ({ default: m.ListPage })));
const LoginPage = lazy(() => import('./pages/LoginPage').then((m) => ({ default: m.LoginPage })));
const MediaPage = lazy(() => import('./pages/MediaPage').then((m) => ({ default: m.MediaPage })));
const SetupPage = lazy(() => import('./pages/SetupPage').then((m) => ({ default: m.SetupPage })));
const TokensPage = lazy(() => import('./pages/TokensPage').then((m) => ({ default: m.TokensPage })));
const UsersPage = lazy(() => import('./pages/UsersPage').then((m) => ({ default: m.UsersPage })));
const WebhooksPage = lazy(() => import('./pages/WebhooksPage').then((m) => ({ default: m.WebhooksPage })));

const loading = <p className="loading" role="status">Loading…</p>;

/**
 * Set when the session expired, until someone signs in again: the redirect to login (whichever
 * happens first, ours or Protected's) then says so.
 */
let sessionExpired = false;

const loginUrl = (path: string) => `/login?${sessionExpired ? 'expired=1&' : ''}next=${encodeURIComponent(path)}`;

/** On an expired session: remember where the editor was and go to login (forms stash their text first). */
function SessionWatcher() {
  const navigate = useNavigate();
  const location = useLocation();
  const session = useSession();
  useEffect(() => {
    const onExpired = () => {
      if (location.pathname.startsWith('/login') || location.pathname.startsWith('/setup')) return;
      sessionExpired = true;
      session.clear();
      void navigate(loginUrl(location.pathname + location.search), { replace: true });
    };
    window.addEventListener(SESSION_EXPIRED, onExpired);
    return () => window.removeEventListener(SESSION_EXPIRED, onExpired);
  }, [navigate, location, session]);
  return null;
}

function Protected({ children }: { children: ReactNode }) {
  const { me, loading: busy, error, refresh } = useSession();
  const location = useLocation();
  if (busy && !me) return loading;
  // the server failed (not "signed out"): say so rather than send a signed-in editor to login
  if (!me && error !== null) {
    return (
      <main className="session-error">
        <ErrorPage title="The admin could not start" onRetry={() => void refresh().catch(() => undefined)}>
          Your session could not be checked: {error}
        </ErrorPage>
      </main>
    );
  }
  if (!me) return <Navigate to={loginUrl(location.pathname + location.search)} replace />;
  sessionExpired = false;
  return (
    <Layout>
      <Suspense fallback={loading}>{children}</Suspense>
    </Layout>
  );
}

/** Providers around every route. */
function Root() {
  return (
    <ToastProvider>
      <SessionProvider>
        <SessionWatcher />
        <Suspense fallback={loading}>
          <Outlet />
        </Suspense>
      </SessionProvider>
    </ToastProvider>
  );
}

/** What a route that failed to render shows: after an upgrade, a page's old script is gone, so say to reload. */
function RouteError() {
  const error = useRouteError();
  const message = error instanceof Error ? error.message : String(error);
  const stale = /dynamically imported module|module script failed|Loading chunk|Failed to fetch/i.test(message);
  return (
    <div className="auth-card" role="alert">
      <h1>{stale ? 'The admin was updated' : 'Something went wrong'}</h1>
      <p>{stale ? 'A newer version of the admin is available. Reload the page to continue; unsaved changes are kept in this tab.' : message}</p>
      <button type="button" className="primary" onClick={() => window.location.reload()}>
        Reload
      </button>
    </div>
  );
}

const router = createBrowserRouter(
  [
    {
      element: <Root />,
      errorElement: <RouteError />,
      children: [
        { path: '/login', element: <LoginPage /> },
        { path: '/setup', element: <SetupPage /> },
        { path: '/', element: <Protected><HomePage /></Protected> },
        { path: '/content/:type', element: <Protected><ListPage /></Protected> },
        { path: '/content/:type/new', element: <Protected><EditPage /></Protected> },
        { path: '/content/:type/:id', element: <Protected><EditPage /></Protected> },
        { path: '/media', element: <Protected><MediaPage /></Protected> },
        { path: '/users', element: <Protected><UsersPage /></Protected> },
        { path: '/tokens', element: <Protected><TokensPage /></Protected> },
        { path: '/webhooks', element: <Protected><WebhooksPage /></Protected> },
        { path: '/audit', element: <Protected><AuditPage /></Protected> },
        { path: '*', element: <Protected><p>This page does not exist.</p></Protected> },
      ],
    },
  ],
  { basename: '/admin' },
);

export function App() {
  return <RouterProvider router={router} />;
}
