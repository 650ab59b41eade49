/** The window's options as a pure function, so every security-relevant flag is unit-tested. */
import type { BrowserWindowConstructorOptions } from 'electron';

export function windowOptions(preloadPath: string): BrowserWindowConstructorOptions {
  return {
    width: 1440,
    height: 900,
    minWidth: 960,
    minHeight: 600,
    title: 'Cachescope',
    // Shown on ready-to-show, so the user never sees an unstyled flash.
    show: false,
    backgroundColor: '#f6f7f9',
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      // Middle-click (auxclick) would open a link in a new window: Electron's advice for untrusted content, and electronegativity's AUXCLICK check.
      disableBlinkFeatures: 'Auxclick',
      devTools: true,
    },
  };
}
