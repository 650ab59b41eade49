/**
 * The sandboxed preload, bundled to one CJS file whose only import is 'electron': it exposes the
 * contract's API as `window.cachescope` and nothing else. The logic lives in api.ts (unit-tested).
 */
import { contextBridge, ipcRenderer } from 'electron';
import { createPreloadApi } from './api';

contextBridge.exposeInMainWorld('cachescope', createPreloadApi(ipcRenderer));
