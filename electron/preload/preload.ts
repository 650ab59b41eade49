/** The sandboxed preload: exposes the contract's API to the page and nothing else. */
import { contextBridge, ipcRenderer } from 'electron';
import { createPreloadApi } from './api';

contextBridge.exposeInMainWorld('cachescope', createPreloadApi(ipcRenderer));
