var __defProp = Object.defineProperty;
var __name = (target, value) => __defProp(target, "name", { value, configurable: true });

// build/index.js
import { WorkerEntrypoint as lt } from "cloudflare:workers";
import G from "./a666afb21109f9e7c22549ea827e39f140bb8932-index_bg.wasm";
var V = globalThis.__worker_init_state = { criticalError: false, instanceId: 0 };
var m = class {
  static {
    __name(this, "m");
  }
  __destroy_into_raw() {
    let t = this.__wbg_ptr;
    return this.__wbg_ptr = 0, _t.unregister(this), t;
  }
  free() {
    let t = this.__destroy_into_raw();
    s();
    try {
      _.__wbg_containerstartupoptions_free(t, 0);
    } catch (e) {
      o(e);
    }
  }
  get enableInternet() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_containerstartupoptions_enableInternet(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t === 16777215 ? void 0 : t !== 0;
  }
  get entrypoint() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_containerstartupoptions_entrypoint(this.__wbg_ptr);
    } catch (r) {
      o(r);
    }
    var e = ft(t[0], t[1]);
    return _.__wbindgen_free(t[0], t[1] * 4, 4), e;
  }
  get env() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_containerstartupoptions_env(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t;
  }
  set enableInternet(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_containerstartupoptions_enableInternet(this.__wbg_ptr, f(t) ? 16777215 : t ? 1 : 0);
    } catch (e) {
      o(e);
    }
  }
  set entrypoint(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let e = bt(t, _.__wbindgen_malloc), r = w;
    s();
    try {
      _.__wbg_set_containerstartupoptions_entrypoint(this.__wbg_ptr, e, r);
    } catch (i) {
      o(i);
    }
  }
  set env(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_containerstartupoptions_env(this.__wbg_ptr, t);
    } catch (e) {
      o(e);
    }
  }
};
Symbol.dispose && (m.prototype[Symbol.dispose] = m.prototype.free);
var A = class {
  static {
    __name(this, "A");
  }
  __destroy_into_raw() {
    let t = this.__wbg_ptr;
    return this.__wbg_ptr = 0, it.unregister(this), t;
  }
  free() {
    let t = this.__destroy_into_raw();
    s();
    try {
      _.__wbg_intounderlyingbytesource_free(t, 0);
    } catch (e) {
      o(e);
    }
  }
  get autoAllocateChunkSize() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.intounderlyingbytesource_autoAllocateChunkSize(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t >>> 0;
  }
  cancel() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t = this.__destroy_into_raw();
    s();
    try {
      _.intounderlyingbytesource_cancel(t);
    } catch (e) {
      o(e);
    }
  }
  pull(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let e;
    s();
    try {
      e = _.intounderlyingbytesource_pull(this.__wbg_ptr, t);
    } catch (r) {
      o(r);
    }
    return e;
  }
  start(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.intounderlyingbytesource_start(this.__wbg_ptr, t);
    } catch (e) {
      o(e);
    }
  }
  get type() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.intounderlyingbytesource_type(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return rt[t];
  }
};
Symbol.dispose && (A.prototype[Symbol.dispose] = A.prototype.free);
var S = class {
  static {
    __name(this, "S");
  }
  __destroy_into_raw() {
    let t = this.__wbg_ptr;
    return this.__wbg_ptr = 0, ot.unregister(this), t;
  }
  free() {
    let t = this.__destroy_into_raw();
    s();
    try {
      _.__wbg_intounderlyingsink_free(t, 0);
    } catch (e) {
      o(e);
    }
  }
  abort(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let e = this.__destroy_into_raw(), r;
    s();
    try {
      r = _.intounderlyingsink_abort(e, t);
    } catch (i) {
      o(i);
    }
    return r;
  }
  close() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t = this.__destroy_into_raw(), e;
    s();
    try {
      e = _.intounderlyingsink_close(t);
    } catch (r) {
      o(r);
    }
    return e;
  }
  write(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let e;
    s();
    try {
      e = _.intounderlyingsink_write(this.__wbg_ptr, t);
    } catch (r) {
      o(r);
    }
    return e;
  }
};
Symbol.dispose && (S.prototype[Symbol.dispose] = S.prototype.free);
var k = class {
  static {
    __name(this, "k");
  }
  __destroy_into_raw() {
    let t = this.__wbg_ptr;
    return this.__wbg_ptr = 0, st.unregister(this), t;
  }
  free() {
    let t = this.__destroy_into_raw();
    s();
    try {
      _.__wbg_intounderlyingsource_free(t, 0);
    } catch (e) {
      o(e);
    }
  }
  cancel() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t = this.__destroy_into_raw();
    s();
    try {
      _.intounderlyingsource_cancel(t);
    } catch (e) {
      o(e);
    }
  }
  pull(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let e;
    s();
    try {
      e = _.intounderlyingsource_pull(this.__wbg_ptr, t);
    } catch (r) {
      o(r);
    }
    return e;
  }
};
Symbol.dispose && (k.prototype[Symbol.dispose] = k.prototype.free);
var v = class {
  static {
    __name(this, "v");
  }
  __destroy_into_raw() {
    let t = this.__wbg_ptr;
    return this.__wbg_ptr = 0, ct.unregister(this), t;
  }
  free() {
    let t = this.__destroy_into_raw();
    s();
    try {
      _.__wbg_minifyconfig_free(t, 0);
    } catch (e) {
      o(e);
    }
  }
  get css() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_minifyconfig_css(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t !== 0;
  }
  get html() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_minifyconfig_html(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t !== 0;
  }
  get js() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_minifyconfig_js(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t !== 0;
  }
  set css(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_minifyconfig_css(this.__wbg_ptr, t);
    } catch (e) {
      o(e);
    }
  }
  set html(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_minifyconfig_html(this.__wbg_ptr, t);
    } catch (e) {
      o(e);
    }
  }
  set js(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_minifyconfig_js(this.__wbg_ptr, t);
    } catch (e) {
      o(e);
    }
  }
};
Symbol.dispose && (v.prototype[Symbol.dispose] = v.prototype.free);
var I = class {
  static {
    __name(this, "I");
  }
  __destroy_into_raw() {
    let t = this.__wbg_ptr;
    return this.__wbg_ptr = 0, at.unregister(this), t;
  }
  free() {
    let t = this.__destroy_into_raw();
    s();
    try {
      _.__wbg_r2range_free(t, 0);
    } catch (e) {
      o(e);
    }
  }
  get length() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_r2range_length(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t[0] === 0 ? void 0 : t[1];
  }
  get offset() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_r2range_offset(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t[0] === 0 ? void 0 : t[1];
  }
  get suffix() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_r2range_suffix(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t[0] === 0 ? void 0 : t[1];
  }
  set length(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_r2range_length(this.__wbg_ptr, !f(t), f(t) ? 0 : t);
    } catch (e) {
      o(e);
    }
  }
  set offset(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_r2range_offset(this.__wbg_ptr, !f(t), f(t) ? 0 : t);
    } catch (e) {
      o(e);
    }
  }
  set suffix(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_r2range_suffix(this.__wbg_ptr, !f(t), f(t) ? 0 : t);
    } catch (e) {
      o(e);
    }
  }
};
Symbol.dispose && (I.prototype[Symbol.dispose] = I.prototype.free);
function O() {
  c++, y = null, j = null, R = null, typeof numBytesDecoded < "u" && (numBytesDecoded = 0), typeof w < "u" && (w = 0), D = false, z = false, B = new WebAssembly.Instance(G, X()), _ = B.exports, _.__wbindgen_start();
}
__name(O, "O");
function K() {
  let n;
  s();
  try {
    n = _.__worker_init_state();
  } catch (t) {
    o(t);
  }
  return n;
}
__name(K, "K");
function Q(n, t, e) {
  let r;
  s();
  try {
    r = _.fetch(n, t, e);
  } catch (i) {
    o(i);
  }
  return r;
}
__name(Q, "Q");
function X() {
  return { __proto__: null, "./index_bg.js": { __proto__: null, __wbg_Error_208446807d0d1e30: /* @__PURE__ */ __name(function(t, e) {
    return Error(l(t, e));
  }, "__wbg_Error_208446807d0d1e30"), __wbg_String_8564e559799eccda: /* @__PURE__ */ __name(function(t, e) {
    let r = String(e), i = E(r, _.__wbindgen_malloc, _.__wbindgen_realloc), u = w;
    d().setInt32((t >>> 0) + 4, u, true), d().setInt32((t >>> 0) + 0, i, true);
  }, "__wbg_String_8564e559799eccda"), __wbg___wbindgen_bigint_get_as_i64_11da4b52cd0aedef: /* @__PURE__ */ __name(function(t, e) {
    let r = e, i = typeof r == "bigint" ? r : void 0;
    d().setBigInt64((t >>> 0) + 8, f(i) ? BigInt(0) : i, true), d().setInt32((t >>> 0) + 0, !f(i), true);
  }, "__wbg___wbindgen_bigint_get_as_i64_11da4b52cd0aedef"), __wbg___wbindgen_boolean_get_4f1baf9a00be3c74: /* @__PURE__ */ __name(function(t) {
    let e = t, r = typeof e == "boolean" ? e : void 0;
    return f(r) ? 16777215 : r ? 1 : 0;
  }, "__wbg___wbindgen_boolean_get_4f1baf9a00be3c74"), __wbg___wbindgen_debug_string_f249a2a76caa9a55: /* @__PURE__ */ __name(function(t, e) {
    let r = Z(e), i = E(r, _.__wbindgen_malloc, _.__wbindgen_realloc), u = w;
    d().setInt32((t >>> 0) + 4, u, true), d().setInt32((t >>> 0) + 0, i, true);
  }, "__wbg___wbindgen_debug_string_f249a2a76caa9a55"), __wbg___wbindgen_in_3f58a9d3b3a7eed2: /* @__PURE__ */ __name(function(t, e) {
    return t in e;
  }, "__wbg___wbindgen_in_3f58a9d3b3a7eed2"), __wbg___wbindgen_is_bigint_5fa10641e039d3ef: /* @__PURE__ */ __name(function(t) {
    return typeof t == "bigint";
  }, "__wbg___wbindgen_is_bigint_5fa10641e039d3ef"), __wbg___wbindgen_is_function_741ff2bb612836f5: /* @__PURE__ */ __name(function(t) {
    return typeof t == "function";
  }, "__wbg___wbindgen_is_function_741ff2bb612836f5"), __wbg___wbindgen_is_null_or_undefined_fb96af93c75460ae: /* @__PURE__ */ __name(function(t) {
    return t == null;
  }, "__wbg___wbindgen_is_null_or_undefined_fb96af93c75460ae"), __wbg___wbindgen_is_object_8b968c3ab8e96595: /* @__PURE__ */ __name(function(t) {
    let e = t;
    return typeof e == "object" && e !== null;
  }, "__wbg___wbindgen_is_object_8b968c3ab8e96595"), __wbg___wbindgen_is_undefined_be5b34249ff1fc15: /* @__PURE__ */ __name(function(t) {
    return t === void 0;
  }, "__wbg___wbindgen_is_undefined_be5b34249ff1fc15"), __wbg___wbindgen_jsval_eq_38d7bfbe4cc84039: /* @__PURE__ */ __name(function(t, e) {
    return t === e;
  }, "__wbg___wbindgen_jsval_eq_38d7bfbe4cc84039"), __wbg___wbindgen_jsval_loose_eq_b2f214e2e4b30e36: /* @__PURE__ */ __name(function(t, e) {
    return t == e;
  }, "__wbg___wbindgen_jsval_loose_eq_b2f214e2e4b30e36"), __wbg___wbindgen_number_get_934b640d0889af78: /* @__PURE__ */ __name(function(t, e) {
    let r = e, i = typeof r == "number" ? r : void 0;
    d().setFloat64((t >>> 0) + 8, f(i) ? 0 : i, true), d().setInt32((t >>> 0) + 0, !f(i), true);
  }, "__wbg___wbindgen_number_get_934b640d0889af78"), __wbg___wbindgen_reinit_2fe0d0b9c1cc3c21: /* @__PURE__ */ __name(function() {
    z = true;
  }, "__wbg___wbindgen_reinit_2fe0d0b9c1cc3c21"), __wbg___wbindgen_string_get_7ce8eee7fd327545: /* @__PURE__ */ __name(function(t, e) {
    let r = e, i = typeof r == "string" ? r : void 0;
    var u = f(i) ? 0 : E(i, _.__wbindgen_malloc, _.__wbindgen_realloc), a = w;
    d().setInt32((t >>> 0) + 4, a, true), d().setInt32((t >>> 0) + 0, u, true);
  }, "__wbg___wbindgen_string_get_7ce8eee7fd327545"), __wbg___wbindgen_throw_4c88d8bf264fd984: /* @__PURE__ */ __name(function(t, e) {
    throw new WebAssembly.Exception(L, [new Error(l(t, e))]);
  }, "__wbg___wbindgen_throw_4c88d8bf264fd984"), __wbg__wbg_cb_unref_09736879a3f67559: /* @__PURE__ */ __name(function(t) {
    t._wbg_cb_unref();
  }, "__wbg__wbg_cb_unref_09736879a3f67559"), __wbg_append_ba9a4dc30a0323fd: /* @__PURE__ */ __name(function(t, e, r, i, u) {
    t.append(l(e, r), l(i, u));
  }, "__wbg_append_ba9a4dc30a0323fd"), __wbg_arrayBuffer_39a766224696fd9d: /* @__PURE__ */ __name(function(t) {
    return t.arrayBuffer();
  }, "__wbg_arrayBuffer_39a766224696fd9d"), __wbg_batch_d54a0dc86c491bc6: /* @__PURE__ */ __name(function(t, e) {
    return t.batch(e);
  }, "__wbg_batch_d54a0dc86c491bc6"), __wbg_bind_0bf8b02f8e144a7d: /* @__PURE__ */ __name(function(t, e) {
    return t.bind(...e);
  }, "__wbg_bind_0bf8b02f8e144a7d"), __wbg_buffer_aca05a93c046db1a: /* @__PURE__ */ __name(function(t) {
    return t.buffer;
  }, "__wbg_buffer_aca05a93c046db1a"), __wbg_byobRequest_18280c78e462544c: /* @__PURE__ */ __name(function(t) {
    let e = t.byobRequest;
    return f(e) ? 0 : h(e);
  }, "__wbg_byobRequest_18280c78e462544c"), __wbg_byteLength_c5f3c188d5252e5b: /* @__PURE__ */ __name(function(t) {
    return t.byteLength;
  }, "__wbg_byteLength_c5f3c188d5252e5b"), __wbg_byteOffset_63cdc7b38f33a45e: /* @__PURE__ */ __name(function(t) {
    return t.byteOffset;
  }, "__wbg_byteOffset_63cdc7b38f33a45e"), __wbg_call_40b008ba32f73991: /* @__PURE__ */ __name(function(t, e) {
    return t.call(e);
  }, "__wbg_call_40b008ba32f73991"), __wbg_call_a410eb4b59ed5965: /* @__PURE__ */ __name(function(t, e, r) {
    return t.call(e, r);
  }, "__wbg_call_a410eb4b59ed5965"), __wbg_cause_4cdda1b55a30b227: /* @__PURE__ */ __name(function(t) {
    return t.cause;
  }, "__wbg_cause_4cdda1b55a30b227"), __wbg_cf_e4bf1d08e9961dec: /* @__PURE__ */ __name(function(t) {
    let e = t.cf;
    return f(e) ? 0 : h(e);
  }, "__wbg_cf_e4bf1d08e9961dec"), __wbg_close_294d3f727cb7a844: /* @__PURE__ */ __name(function(t) {
    t.close();
  }, "__wbg_close_294d3f727cb7a844"), __wbg_close_bf94aa7e38b9a94b: /* @__PURE__ */ __name(function(t) {
    t.close();
  }, "__wbg_close_bf94aa7e38b9a94b"), __wbg_constructor_76ad3e2c50d259de: /* @__PURE__ */ __name(function(t) {
    return t.constructor;
  }, "__wbg_constructor_76ad3e2c50d259de"), __wbg_done_57e08d0be6e30c02: /* @__PURE__ */ __name(function(t) {
    return t.done;
  }, "__wbg_done_57e08d0be6e30c02"), __wbg_enqueue_c11626eae1c54509: /* @__PURE__ */ __name(function(t, e) {
    t.enqueue(e);
  }, "__wbg_enqueue_c11626eae1c54509"), __wbg_entries_7bb1459bd9b5c2b9: /* @__PURE__ */ __name(function(t) {
    return Object.entries(t);
  }, "__wbg_entries_7bb1459bd9b5c2b9"), __wbg_entries_fb0b3ba27a6e0bf7: /* @__PURE__ */ __name(function(t) {
    return t.entries();
  }, "__wbg_entries_fb0b3ba27a6e0bf7"), __wbg_error_9b95f63d905893d2: /* @__PURE__ */ __name(function(t, e) {
    console.error(t, e);
  }, "__wbg_error_9b95f63d905893d2"), __wbg_error_d1fc0193610e0e39: /* @__PURE__ */ __name(function(t) {
    console.error(t);
  }, "__wbg_error_d1fc0193610e0e39"), __wbg_get_0ae635d02d232017: /* @__PURE__ */ __name(function(t, e) {
    let r = Reflect.get(t, e);
    return f(r) ? 0 : h(r);
  }, "__wbg_get_0ae635d02d232017"), __wbg_get_2080c49015e35254: /* @__PURE__ */ __name(function(t, e) {
    return Reflect.get(t, e);
  }, "__wbg_get_2080c49015e35254"), __wbg_get_635eea311fa1a291: /* @__PURE__ */ __name(function(t, e) {
    return Reflect.get(t, e);
  }, "__wbg_get_635eea311fa1a291"), __wbg_get_d7176cfb76d71114: /* @__PURE__ */ __name(function(t, e) {
    return t[e >>> 0];
  }, "__wbg_get_d7176cfb76d71114"), __wbg_get_unchecked_e6325ad374eff861: /* @__PURE__ */ __name(function(t, e) {
    return t[e >>> 0];
  }, "__wbg_get_unchecked_e6325ad374eff861"), __wbg_headers_9ef80dd266706f48: /* @__PURE__ */ __name(function(t) {
    return t.headers;
  }, "__wbg_headers_9ef80dd266706f48"), __wbg_instanceId_65a51bedfd10160a: /* @__PURE__ */ __name(function(t) {
    return t.instanceId;
  }, "__wbg_instanceId_65a51bedfd10160a"), __wbg_instanceof_ArrayBuffer_12cdaa4161423e6b: /* @__PURE__ */ __name(function(t) {
    let e;
    try {
      e = t instanceof ArrayBuffer;
    } catch {
      e = false;
    }
    return e;
  }, "__wbg_instanceof_ArrayBuffer_12cdaa4161423e6b"), __wbg_instanceof_Error_74e3cca0c4a69161: /* @__PURE__ */ __name(function(t) {
    let e;
    try {
      e = t instanceof Error;
    } catch {
      e = false;
    }
    return e;
  }, "__wbg_instanceof_Error_74e3cca0c4a69161"), __wbg_instanceof_Map_0b4fc8b62e73f163: /* @__PURE__ */ __name(function(t) {
    let e;
    try {
      e = t instanceof Map;
    } catch {
      e = false;
    }
    return e;
  }, "__wbg_instanceof_Map_0b4fc8b62e73f163"), __wbg_instanceof_Uint8Array_d7aeb0dcb3108fea: /* @__PURE__ */ __name(function(t) {
    let e;
    try {
      e = t instanceof Uint8Array;
    } catch {
      e = false;
    }
    return e;
  }, "__wbg_instanceof_Uint8Array_d7aeb0dcb3108fea"), __wbg_isArray_bcf1376d0d732d08: /* @__PURE__ */ __name(function(t) {
    return Array.isArray(t);
  }, "__wbg_isArray_bcf1376d0d732d08"), __wbg_isSafeInteger_1a35ba4d31e71d38: /* @__PURE__ */ __name(function(t) {
    return Number.isSafeInteger(t);
  }, "__wbg_isSafeInteger_1a35ba4d31e71d38"), __wbg_iterator_e4c5e8f68ada7b58: /* @__PURE__ */ __name(function() {
    return Symbol.iterator;
  }, "__wbg_iterator_e4c5e8f68ada7b58"), __wbg_length_186163212ffe79c3: /* @__PURE__ */ __name(function(t) {
    return t.length;
  }, "__wbg_length_186163212ffe79c3"), __wbg_length_b03a0fabb109b1e9: /* @__PURE__ */ __name(function(t) {
    return t.length;
  }, "__wbg_length_b03a0fabb109b1e9"), __wbg_message_43d8c8f1d543a349: /* @__PURE__ */ __name(function(t) {
    return t.message;
  }, "__wbg_message_43d8c8f1d543a349"), __wbg_method_3d406ebab4dd9853: /* @__PURE__ */ __name(function(t, e) {
    let r = e.method, i = E(r, _.__wbindgen_malloc, _.__wbindgen_realloc), u = w;
    d().setInt32((t >>> 0) + 4, u, true), d().setInt32((t >>> 0) + 0, i, true);
  }, "__wbg_method_3d406ebab4dd9853"), __wbg_name_d1fa514fdca6a975: /* @__PURE__ */ __name(function(t) {
    return t.name;
  }, "__wbg_name_d1fa514fdca6a975"), __wbg_name_fd11f69c917c5670: /* @__PURE__ */ __name(function(t) {
    return t.name;
  }, "__wbg_name_fd11f69c917c5670"), __wbg_new_13de428334042d26: /* @__PURE__ */ __name(function(t) {
    return new Uint8Array(t);
  }, "__wbg_new_13de428334042d26"), __wbg_new_277c27c26f94cbc2: /* @__PURE__ */ __name(function() {
    return new Headers();
  }, "__wbg_new_277c27c26f94cbc2"), __wbg_new_37eb45aaf5eeb820: /* @__PURE__ */ __name(function() {
    return new Array();
  }, "__wbg_new_37eb45aaf5eeb820"), __wbg_new_787b9fb330d55d78: /* @__PURE__ */ __name(function(t, e) {
    return new Error(l(t, e));
  }, "__wbg_new_787b9fb330d55d78"), __wbg_new_cd4348290afae586: /* @__PURE__ */ __name(function() {
    return new Object();
  }, "__wbg_new_cd4348290afae586"), __wbg_new_typed_e09da9dae6ee5935: /* @__PURE__ */ __name(function(t, e) {
    try {
      var r = { a: t, b: e }, i = /* @__PURE__ */ __name((a, b) => {
        let g = r.a;
        r.a = 0;
        try {
          return nt(g, r.b, a, b);
        } finally {
          r.a = g;
        }
      }, "i");
      return new Promise(i);
    } finally {
      r.a = 0;
    }
  }, "__wbg_new_typed_e09da9dae6ee5935"), __wbg_new_with_byte_offset_and_length_3cd32055a417f095: /* @__PURE__ */ __name(function(t, e, r) {
    return new Uint8Array(t, e >>> 0, r >>> 0);
  }, "__wbg_new_with_byte_offset_and_length_3cd32055a417f095"), __wbg_new_with_length_01b143a7e5dd5a3e: /* @__PURE__ */ __name(function(t) {
    return new Uint8Array(t >>> 0);
  }, "__wbg_new_with_length_01b143a7e5dd5a3e"), __wbg_new_with_opt_buffer_source_and_init_efb63b64b37a12c7: /* @__PURE__ */ __name(function(t, e) {
    return new Response(t, e);
  }, "__wbg_new_with_opt_buffer_source_and_init_efb63b64b37a12c7"), __wbg_new_with_opt_readable_stream_and_init_383c64eccf9e9cc7: /* @__PURE__ */ __name(function(t, e) {
    return new Response(t, e);
  }, "__wbg_new_with_opt_readable_stream_and_init_383c64eccf9e9cc7"), __wbg_new_with_opt_str_and_init_6456bed24baae6fc: /* @__PURE__ */ __name(function(t, e, r) {
    return new Response(t === 0 ? void 0 : l(t, e), r);
  }, "__wbg_new_with_opt_str_and_init_6456bed24baae6fc"), __wbg_next_178c1651c11432b3: /* @__PURE__ */ __name(function(t) {
    return t.next;
  }, "__wbg_next_178c1651c11432b3"), __wbg_next_af5ac6a08bb0a717: /* @__PURE__ */ __name(function(t) {
    return t.next();
  }, "__wbg_next_af5ac6a08bb0a717"), __wbg_now_463ac581d2fc7ea3: /* @__PURE__ */ __name(function() {
    return Date.now();
  }, "__wbg_now_463ac581d2fc7ea3"), __wbg_prepare_50d1ec53a3871b75: /* @__PURE__ */ __name(function(t, e, r) {
    return t.prepare(l(e, r));
  }, "__wbg_prepare_50d1ec53a3871b75"), __wbg_prototypesetcall_13162965d1fe7aa3: /* @__PURE__ */ __name(function(t, e, r) {
    Uint8Array.prototype.set.call(H(t, e), r);
  }, "__wbg_prototypesetcall_13162965d1fe7aa3"), __wbg_push_c9f4893fc209f768: /* @__PURE__ */ __name(function(t, e) {
    return t.push(e);
  }, "__wbg_push_c9f4893fc209f768"), __wbg_queueMicrotask_1e8503a8a690f0a3: /* @__PURE__ */ __name(function(t) {
    return t.queueMicrotask;
  }, "__wbg_queueMicrotask_1e8503a8a690f0a3"), __wbg_queueMicrotask_4a1a4d8dd332373b: /* @__PURE__ */ __name(function(t) {
    queueMicrotask(t);
  }, "__wbg_queueMicrotask_4a1a4d8dd332373b"), __wbg_raw_0a03c6422895bab2: /* @__PURE__ */ __name(function(t) {
    return t.raw();
  }, "__wbg_raw_0a03c6422895bab2"), __wbg_resolve_dbf78ab4942478b0: /* @__PURE__ */ __name(function(t) {
    return Promise.resolve(t);
  }, "__wbg_resolve_dbf78ab4942478b0"), __wbg_respond_d97c023ee981d1f5: /* @__PURE__ */ __name(function(t, e) {
    t.respond(e >>> 0);
  }, "__wbg_respond_d97c023ee981d1f5"), __wbg_set_2793479888329cb6: /* @__PURE__ */ __name(function(t, e, r) {
    return Reflect.set(t, e, r);
  }, "__wbg_set_2793479888329cb6"), __wbg_set_bcb0ec2400cfa22e: /* @__PURE__ */ __name(function(t, e, r, i, u) {
    t.set(l(e, r), l(i, u));
  }, "__wbg_set_bcb0ec2400cfa22e"), __wbg_set_criticalError_c30445da7038dbf2: /* @__PURE__ */ __name(function(t, e) {
    t.criticalError = e !== 0;
  }, "__wbg_set_criticalError_c30445da7038dbf2"), __wbg_set_feb3714f475485ba: /* @__PURE__ */ __name(function(t, e, r) {
    t.set(H(e, r));
  }, "__wbg_set_feb3714f475485ba"), __wbg_set_headers_07f10dbe49bc0e77: /* @__PURE__ */ __name(function(t, e) {
    t.headers = e;
  }, "__wbg_set_headers_07f10dbe49bc0e77"), __wbg_set_instanceId_6f5f77d81e249b49: /* @__PURE__ */ __name(function(t, e) {
    t.instanceId = e >>> 0;
  }, "__wbg_set_instanceId_6f5f77d81e249b49"), __wbg_set_status_bd9dc81d1c17b108: /* @__PURE__ */ __name(function(t, e) {
    t.status = e;
  }, "__wbg_set_status_bd9dc81d1c17b108"), __wbg_static_accessor_GLOBAL_THIS_003ee833af9699fc: /* @__PURE__ */ __name(function() {
    let t = typeof globalThis > "u" ? void 0 : globalThis;
    return f(t) ? 0 : h(t);
  }, "__wbg_static_accessor_GLOBAL_THIS_003ee833af9699fc"), __wbg_static_accessor_GLOBAL_e4293fb22cbe77da: /* @__PURE__ */ __name(function() {
    let t = typeof global > "u" ? void 0 : global;
    return f(t) ? 0 : h(t);
  }, "__wbg_static_accessor_GLOBAL_e4293fb22cbe77da"), __wbg_static_accessor_INIT_STATE_b2269150d11f01e0: /* @__PURE__ */ __name(function() {
    return V;
  }, "__wbg_static_accessor_INIT_STATE_b2269150d11f01e0"), __wbg_static_accessor_SELF_53bb20457401453d: /* @__PURE__ */ __name(function() {
    let t = typeof self > "u" ? void 0 : self;
    return f(t) ? 0 : h(t);
  }, "__wbg_static_accessor_SELF_53bb20457401453d"), __wbg_static_accessor_WINDOW_b5e0810bfecb7feb: /* @__PURE__ */ __name(function() {
    let t = typeof window > "u" ? void 0 : window;
    return f(t) ? 0 : h(t);
  }, "__wbg_static_accessor_WINDOW_b5e0810bfecb7feb"), __wbg_then_656f253a5dd7d8ea: /* @__PURE__ */ __name(function(t, e, r) {
    return t.then(e, r);
  }, "__wbg_then_656f253a5dd7d8ea"), __wbg_then_e3f7f2d365708be8: /* @__PURE__ */ __name(function(t, e) {
    return t.then(e);
  }, "__wbg_then_e3f7f2d365708be8"), __wbg_url_1be993c7b186415b: /* @__PURE__ */ __name(function(t, e) {
    let r = e.url, i = E(r, _.__wbindgen_malloc, _.__wbindgen_realloc), u = w;
    d().setInt32((t >>> 0) + 4, u, true), d().setInt32((t >>> 0) + 0, i, true);
  }, "__wbg_url_1be993c7b186415b"), __wbg_value_e0f328965e184931: /* @__PURE__ */ __name(function(t) {
    return t.value;
  }, "__wbg_value_e0f328965e184931"), __wbg_view_3b708d3bdaf3fc96: /* @__PURE__ */ __name(function(t) {
    let e = t.view;
    return f(e) ? 0 : h(e);
  }, "__wbg_view_3b708d3bdaf3fc96"), __wbindgen_generic_0000000000000001: /* @__PURE__ */ __name(function(t, e) {
    return ut(t, e, et);
  }, "__wbindgen_generic_0000000000000001"), __wbindgen_generic_0000000000000002: /* @__PURE__ */ __name(function(t) {
    return t;
  }, "__wbindgen_generic_0000000000000002"), __wbindgen_generic_0000000000000003: /* @__PURE__ */ __name(function(t) {
    return t;
  }, "__wbindgen_generic_0000000000000003"), __wbindgen_generic_0000000000000004: /* @__PURE__ */ __name(function(t, e) {
    return l(t, e);
  }, "__wbindgen_generic_0000000000000004"), __wbindgen_generic_0000000000000005: /* @__PURE__ */ __name(function(t) {
    return BigInt.asUintN(64, t);
  }, "__wbindgen_generic_0000000000000005"), __wbindgen_init_externref_table: /* @__PURE__ */ __name(function() {
    let t = _.__wbindgen_externrefs;
    t.set(0, void 0), t.set(1024, void 0), t.set(1025, null), t.set(1026, true), t.set(1027, false);
  }, "__wbindgen_init_externref_table"), __wbindgen_jstag: WebAssembly.JSTag, __wbindgen_rethrow_critical: /* @__PURE__ */ __name(function(t) {
    throw new Error("Critical error", { cause: t });
  }, "__wbindgen_rethrow_critical") } };
}
__name(X, "X");
var L = new WebAssembly.Tag({ parameters: ["externref"] });
var U;
var D = false;
function Y() {
  D = true;
  try {
    let n = q()[_.__abort_handler.value / 4];
    n && _.__wbindgen_export.get(n)();
  } catch {
  }
}
__name(Y, "Y");
function o(n) {
  throw n instanceof WebAssembly.Exception && n.is(L) ? n.getArg(L, 0) : (q()[U] = 1, Y(), n);
}
__name(o, "o");
function s() {
  if (U ??= _.__instance_terminated.value / 4, q()[U]) {
    if (D || Y(), z) {
      O();
      return;
    }
    throw new Error("Module terminated");
  } else z && O();
}
__name(s, "s");
function et(n, t, e) {
  let r;
  s();
  try {
    r = _.wasm_bindgen__convert__closures_____invoke__h41886f9000231fc9(n, t, e);
  } catch (i) {
    o(i);
  }
  if (r[1]) throw dt(r[0]);
}
__name(et, "et");
function nt(n, t, e, r) {
  s();
  try {
    _.wasm_bindgen__convert__closures_____invoke__h6b0df33187d318a5(n, t, e, r);
  } catch (i) {
    o(i);
  }
}
__name(nt, "nt");
var rt = ["bytes"];
var c = 0;
var _t = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry(({ ptr: n, instance: t }) => {
  t === c && _.__wbg_containerstartupoptions_free(n, 1);
});
var it = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry(({ ptr: n, instance: t }) => {
  t === c && _.__wbg_intounderlyingbytesource_free(n, 1);
});
var ot = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry(({ ptr: n, instance: t }) => {
  t === c && _.__wbg_intounderlyingsink_free(n, 1);
});
var st = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry(({ ptr: n, instance: t }) => {
  t === c && _.__wbg_intounderlyingsource_free(n, 1);
});
var ct = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry(({ ptr: n, instance: t }) => {
  t === c && _.__wbg_minifyconfig_free(n, 1);
});
var at = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry(({ ptr: n, instance: t }) => {
  t === c && _.__wbg_r2range_free(n, 1);
});
function h(n) {
  let t = _.__externref_table_alloc();
  return _.__wbindgen_externrefs.set(t, n), t;
}
__name(h, "h");
var J = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry((n) => {
  n.instance === c && _.__wbindgen_destroy_closure(n.a, n.b);
});
function Z(n) {
  switch (typeof n) {
    case "number":
    case "boolean":
    case "undefined":
      return `${n}`;
    case "string":
      return JSON.stringify(n);
    case "bigint":
      return `${n}n`;
    case "symbol":
      return n.description !== void 0 ? `Symbol(${n.description})` : "Symbol";
    case "function":
      return typeof n.name == "string" && n.name !== "" ? `Function(${n.name})` : "Function";
    case "object": {
      if (n === null) return "null";
      if (Array.isArray(n)) return "[" + Array.from(n, Z).join(", ") + "]";
      if (n instanceof Error) return `${n.name}: ${n.message}
${n.stack}`;
      let t = toString.call(n), e = /\[object ([^\]]+)\]/.exec(t)?.[1];
      if (e === void 0) return t;
      if (e === "Object") try {
        return "Object(" + JSON.stringify(n) + ")";
      } catch {
        return "Object";
      }
      return e;
    }
  }
}
__name(Z, "Z");
function ft(n, t) {
  n = n >>> 0;
  let e = d(), r = [];
  for (let i = n; i < n + 4 * t; i += 4) r.push(_.__wbindgen_externrefs.get(e.getUint32(i, true)));
  return _.__externref_drop_slice(n, t), r;
}
__name(ft, "ft");
function H(n, t) {
  return n = n >>> 0, F().subarray(n / 1, n / 1 + t);
}
__name(H, "H");
var y = null;
function d() {
  return (y === null || y.buffer.detached === true || y.buffer.detached === void 0 && y.buffer !== _.memory.buffer) && (y = new DataView(_.memory.buffer)), y;
}
__name(d, "d");
var j = null;
function q() {
  return (j === null || j.byteLength === 0) && (j = new Int32Array(_.memory.buffer)), j;
}
__name(q, "q");
function l(n, t) {
  return n = n >>> 0, gt(F().subarray(n, n + t));
}
__name(l, "l");
var R = null;
function F() {
  return (R === null || R.byteLength === 0) && (R = new Uint8Array(_.memory.buffer)), R;
}
__name(F, "F");
function f(n) {
  return n == null;
}
__name(f, "f");
function ut(n, t, e) {
  let r = { a: n, b: t, cnt: 1, instance: c }, i = /* @__PURE__ */ __name((...u) => {
    if (r.instance !== c) throw new Error("Cannot invoke closure from previous WASM instance");
    r.cnt++;
    let a = r.a;
    r.a = 0;
    try {
      return e(a, r.b, ...u);
    } finally {
      r.a = a, i._wbg_cb_unref();
    }
  }, "i");
  return i._wbg_cb_unref = () => {
    --r.cnt === 0 && (_.__wbindgen_destroy_closure(r.a, r.b), r.a = 0, J.unregister(r));
  }, J.register(i, r, r), i;
}
__name(ut, "ut");
function bt(n, t) {
  let e = t(n.length * 4, 4) >>> 0;
  for (let r = 0; r < n.length; r++) {
    let i = h(n[r]);
    d().setUint32(e + 4 * r, i, true);
  }
  return w = n.length, e;
}
__name(bt, "bt");
function E(n, t, e) {
  if (e === void 0) {
    let b = W.encode(n), g = t(b.length, 1) >>> 0;
    return F().subarray(g, g + b.length).set(b), w = b.length, g;
  }
  let r = n.length, i = t(r, 1) >>> 0, u = F(), a = 0;
  for (; a < r; a++) {
    let b = n.charCodeAt(a);
    if (b > 127) break;
    u[i + a] = b;
  }
  if (a !== r) {
    a !== 0 && (n = n.slice(a)), i = e(i, r, r = a + n.length * 3, 1) >>> 0;
    let b = F().subarray(i + a, i + r), g = W.encodeInto(n, b);
    a += g.written, i = e(i, r, a, 1) >>> 0;
  }
  return w = a, i;
}
__name(E, "E");
var z = false;
function dt(n) {
  let t = _.__wbindgen_externrefs.get(n);
  return _.__externref_table_dealloc(n), t;
}
__name(dt, "dt");
var tt = new TextDecoder("utf-8", { ignoreBOM: true });
tt.decode();
function gt(n) {
  return tt.decode(n);
}
__name(gt, "gt");
var W = new TextEncoder();
"encodeInto" in W || (W.encodeInto = function(n, t) {
  let e = W.encode(n);
  return t.set(e), { read: n.length, written: e.length };
});
var w = 0;
var B = new WebAssembly.Instance(G, X());
var _ = B.exports;
_.__wbindgen_start();
Error.stackTraceLimit = 100;
var p = K();
function N() {
  p.criticalError && (console.log("Reinitializing Wasm application"), O(), p.criticalError = false, p.instanceId++);
}
__name(N, "N");
addEventListener("error", (n) => {
  $(n.error);
});
function $(n) {
  n instanceof WebAssembly.RuntimeError && (console.error("Critical", n), p.criticalError = true);
}
__name($, "$");
var T = class extends lt {
  static {
    __name(this, "T");
  }
};
T.prototype.fetch = function(t) {
  return Q.call(this, t, this.env, this.ctx);
};
var ht = { set: /* @__PURE__ */ __name((n, t, e, r) => Reflect.set(n.instance, t, e, r), "set"), has: /* @__PURE__ */ __name((n, t) => Reflect.has(n.instance, t), "has"), deleteProperty: /* @__PURE__ */ __name((n, t) => Reflect.deleteProperty(n.instance, t), "deleteProperty"), apply: /* @__PURE__ */ __name((n, t, e) => Reflect.apply(n.instance, t, e), "apply"), construct: /* @__PURE__ */ __name((n, t, e) => Reflect.construct(n.instance, t, e), "construct"), getPrototypeOf: /* @__PURE__ */ __name((n) => Reflect.getPrototypeOf(n.instance), "getPrototypeOf"), setPrototypeOf: /* @__PURE__ */ __name((n, t) => Reflect.setPrototypeOf(n.instance, t), "setPrototypeOf"), isExtensible: /* @__PURE__ */ __name((n) => Reflect.isExtensible(n.instance), "isExtensible"), preventExtensions: /* @__PURE__ */ __name((n) => Reflect.preventExtensions(n.instance), "preventExtensions"), getOwnPropertyDescriptor: /* @__PURE__ */ __name((n, t) => Reflect.getOwnPropertyDescriptor(n.instance, t), "getOwnPropertyDescriptor"), defineProperty: /* @__PURE__ */ __name((n, t, e) => Reflect.defineProperty(n.instance, t, e), "defineProperty"), ownKeys: /* @__PURE__ */ __name((n) => Reflect.ownKeys(n.instance), "ownKeys") };
var M = { construct(n, t, e) {
  try {
    N();
    let r = { instance: Reflect.construct(n, t, e), instanceId: p.instanceId, ctor: n, args: t, newTarget: e };
    return new Proxy(r, { ...ht, get(i, u, a) {
      i.instanceId !== p.instanceId && (i.instance = Reflect.construct(i.ctor, i.args, i.newTarget), i.instanceId = p.instanceId);
      let b = Reflect.get(i.instance, u, a);
      return typeof b != "function" ? b : b.constructor === Function ? new Proxy(b, { apply(g, P, C) {
        N();
        try {
          return g.apply(P, C);
        } catch (x) {
          throw $(x), x;
        }
      } }) : new Proxy(b, { async apply(g, P, C) {
        N();
        try {
          return await g.apply(P, C);
        } catch (x) {
          throw $(x), x;
        }
      } });
    } });
  } catch (r) {
    throw p.criticalError = true, r;
  }
} };
var It = new Proxy(T, M);
var xt = new Proxy(m, M);
var Et = new Proxy(v, M);
var jt = new Proxy(I, M);
export {
  xt as ContainerStartupOptions,
  Et as MinifyConfig,
  jt as R2Range,
  It as default
};
//# sourceMappingURL=index.js.map
