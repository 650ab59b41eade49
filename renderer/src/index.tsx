import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './ui/app';
import './ui/styles.css';

function rootElement(): HTMLElement {
  const existing = document.getElementById('root');
  if (existing) return existing;
  const el = document.createElement('div');
  el.id = 'root';
  document.body.appendChild(el);
  return el;
}

createRoot(rootElement()).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
