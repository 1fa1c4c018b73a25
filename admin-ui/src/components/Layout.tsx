// The frame around signed-in screens: sidebar (collections, singletons, media, admin pages) and main area.
import { useEffect, useState, type ReactNode } from 'react';
import { NavLink, useLocation } from 'react-router-dom';
import { api } from '../api';
import { useSession } from '../session';
import { useToast } from '../toasts';
import { can } from '../types';

const ROLE_TEXT: Record<string, string> = { admin: 'Admin', editor: 'Editor', author: 'Author', viewer: 'Viewer' };

export function Layout({ children }: { children: ReactNode }) {
  const { me, types, clear } = useSession();
  const toast = useToast();
  const location = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const collections = types.filter((t) => !t.singleton);
  const singletons = types.filter((t) => t.singleton);

  // on a narrow screen the menu folds away again after each move
  useEffect(() => setMenuOpen(false), [location.pathname]);

  const logout = async () => {
    try {
      await api('/api/auth/logout', { method: 'POST' });
    } catch (e) {
      toast.error(e);
      return;
    }
    clear();
    // nor in this tab's storage: unsaved form text is kept across an expired session, not a logout
    for (const key of Object.keys(sessionStorage)) if (key.startsWith('cms:unsaved:')) sessionStorage.removeItem(key);
    // a fresh page: nothing of the signed-out user stays in memory
    window.location.replace('/admin/login');
  };
  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <nav className={`sidebar${menuOpen ? ' open' : ''}`} aria-label="Main">
        <div className="sidebar-top">
          <div className="brand">CMS</div>
          <button type="button" className="menu-toggle" aria-expanded={menuOpen} aria-controls="sidebar-links" onClick={() => setMenuOpen((o) => !o)}>
            Menu
          </button>
        </div>
        <div id="sidebar-links" className="sidebar-links">
          <h2>Collections</h2>
          {collections.length ? (
            <ul>
              {collections.map((t) => (
                <li key={t.id}><NavLink to={`/content/${t.id}`}>{t.title}</NavLink></li>
              ))}
            </ul>
          ) : (
            <p className="sidebar-empty">None yet</p>
          )}
          {singletons.length > 0 && (
            <>
              <h2>Singletons</h2>
              <ul>
                {singletons.map((t) => (
                  <li key={t.id}><NavLink to={`/content/${t.id}/single`}>{t.title}</NavLink></li>
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
        </div>
        <div className="whoami">
          <span className="whoami-name" title={me?.email}>
            {me?.name}
            {me && <span className={`role role-${me.role}`}>{ROLE_TEXT[me.role] ?? me.role}</span>}
          </span>
          <button type="button" onClick={logout}>Log out</button>
        </div>
      </nav>
      <main id="main" className="main" tabIndex={-1}>{children}</main>
    </div>
  );
}
