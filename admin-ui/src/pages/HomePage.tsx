// The start screen: straight to the first collection; a friendly overview when there is none.
import { useEffect } from 'react';
import { Link, Navigate } from 'react-router-dom';
import { useSession } from '../session';
import { can } from '../types';

export function HomePage() {
  const { types, me } = useSession();
  useEffect(() => {
    document.title = 'CMS admin';
  }, []);
  const collections = types.filter((t) => !t.singleton);
  const singletons = types.filter((t) => t.singleton);
  const first = collections[0];
  if (first) return <Navigate to={`/content/${first.id}`} replace />;
  return (
    <section>
      <div className="toolbar"><h1>Welcome{me ? `, ${me.name}` : ''}</h1></div>
      {singletons.length > 0 ? (
        <div className="panel">
          <p>There are no collections, but these settings can be edited:</p>
          <ul>
            {singletons.map((t) => (
              <li key={t.id}><Link to={`/content/${t.id}/single`}>{t.title}</Link></li>
            ))}
          </ul>
        </div>
      ) : (
        <div className="empty">
          <p><strong>No content types yet.</strong></p>
          <p>Add a JSON-Schema file to the content-types folder and restart the server: its collection shows up here.</p>
          {can(me?.role, 'upload') && <p><Link to="/media">Open the media library</Link></p>}
        </div>
      )}
    </section>
  );
}
