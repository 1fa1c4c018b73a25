// The frame around signed-in screens: sidebar (collections, singletons, media, admin pages) and main area.
import type { ReactNode } from 'react';
import { NavLink, useNavigate } from 'react-router-dom';
import { api } from '../api';
import { useSession } from '../session';
import { useToast } from '../toasts';
import { can } from '../types';

export function Layout({ children }: { children: ReactNode }) {
  const { me, types, clear } = useSession();
  const toast = useToast();
  const navigate = useNavigate();
  const collections = types.filter((t) => !t.singleton);
  const singletons = types.filter((t) => t.singleton);
  const logout = async () => {
    try {
      await api('/api/auth/logout', { method: 'POST' });
    } catch (e) {
      toast.error(e);
    }
    clear();
    navigate('/login', { replace: true });
  };
  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <nav className="sidebar" aria-label="Main">
        <div className="brand">CMS</div>
        <h2>Collections</h2>
        <ul>
          {collections.map((t) => (
            <li key={t.id}><NavLink to={`/content/${t.id}`}>{t.title}</NavLink></li>
          ))}
        </ul>
        {singletons.length > 0 && (
          <>
            <h2>Singletons</h2>
            <ul>
              {singletons.map((t) => (
                <li key={t.id}><NavLink to={`/content/${t.id}`}>{t.title}</NavLink></li>
              ))}
            </ul>
          </>
        )}
        <h2>Library</h2>
        <ul>
          <li><NavLink to="/media">Media</NavLink></li>
        </ul>
        {can(me?.role, 'admin') && (
          <>
            <h2>Admin</h2>
            <ul>
              <li><NavLink to="/users">Users</NavLink></li>
              <li><NavLink to="/tokens">API tokens</NavLink></li>
              <li><NavLink to="/webhooks">Webhooks</NavLink></li>
              <li><NavLink to="/audit">Audit log</NavLink></li>
            </ul>
          </>
        )}
        <div className="whoami">
          <span>{me?.name} <small>({me?.role})</small></span>
          <button type="button" onClick={logout}>Log out</button>
        </div>
      </nav>
      <main id="main" className="main">{children}</main>
    </div>
  );
}
