// Routes of the admin UI (served under /admin). Signed-out visitors go to login (or setup on first run).
import { startTransition, useEffect } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation, useNavigate } from 'react-router-dom';
import { SESSION_EXPIRED } from './api';
import { Layout } from './components/Layout';
import { AuditPage } from './pages/AuditPage';
import { EditPage } from './pages/EditPage';
import { HomePage } from './pages/HomePage';
import { ListPage } from './pages/ListPage';
import { LoginPage } from './pages/LoginPage';
import { MediaPage } from './pages/MediaPage';
import { SetupPage } from './pages/SetupPage';
import { TokensPage } from './pages/TokensPage';
import { UsersPage } from './pages/UsersPage';
import { WebhooksPage } from './pages/WebhooksPage';
import { SessionProvider, useSession } from './session';
import { ToastProvider } from './toasts';

/** On an expired session: remember where the editor was and go to login (forms stash their text first). */
function SessionWatcher() {
  const navigate = useNavigate();
  const location = useLocation();
  const session = useSession();
  useEffect(() => {
    const onExpired = () => {
      if (location.pathname.startsWith('/login') || location.pathname.startsWith('/setup')) return;
      // one transition: otherwise forgetting the user renders Protected first, whose own redirect drops expired=1
      startTransition(() => {
        navigate(`/login?expired=1&next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
        session.clear();
      });
    };
    window.addEventListener(SESSION_EXPIRED, onExpired);
    return () => window.removeEventListener(SESSION_EXPIRED, onExpired);
  }, [navigate, location, session]);
  return null;
}

function Protected({ children }: { children: React.ReactNode }) {
  const { me, loading } = useSession();
  const location = useLocation();
  if (loading && !me) return <p className="loading" role="status">Loading…</p>;
  if (!me) return <Navigate to={`/login?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  return <Layout>{children}</Layout>;
}

export function App() {
  return (
    <BrowserRouter basename="/admin">
      <ToastProvider>
        <SessionProvider>
          <SessionWatcher />
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route path="/setup" element={<SetupPage />} />
            <Route path="/" element={<Protected><HomePage /></Protected>} />
            <Route path="/content/:type" element={<Protected><ListPage /></Protected>} />
            <Route path="/content/:type/new" element={<Protected><EditPage /></Protected>} />
            <Route path="/content/:type/:id" element={<Protected><EditPage /></Protected>} />
            <Route path="/media" element={<Protected><MediaPage /></Protected>} />
            <Route path="/users" element={<Protected><UsersPage /></Protected>} />
            <Route path="/tokens" element={<Protected><TokensPage /></Protected>} />
            <Route path="/webhooks" element={<Protected><WebhooksPage /></Protected>} />
            <Route path="/audit" element={<Protected><AuditPage /></Protected>} />
            <Route path="*" element={<Protected><p>This page does not exist.</p></Protected>} />
          </Routes>
        </SessionProvider>
      </ToastProvider>
    </BrowserRouter>
  );
}
