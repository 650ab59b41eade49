/** Messages between the page and the graph layout worker (structured-clone data only). */
import type { LayoutInput, LayoutResult } from '../../shared/graph/layered-layout';

export interface LayoutRequest {
  id: number;
  key: string;
  input: LayoutInput;
}

export type LayoutReply = { id: number; key: string; ok: true; result: LayoutResult; ms: number } | { id: number; key: string; ok: false; message: string };
