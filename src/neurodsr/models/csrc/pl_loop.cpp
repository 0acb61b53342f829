// The PL family's forced time loop, forward and adjoint, each one call per window.
//
// Why hand-written: at the sizes DSR trains (M ~ 3-100 latent units, L ~ 30-100 hidden, B ~
// 16-32 windows) one time step is a few small matrix-vector products per window. Torch runs
// each of them as a separate kernel (~1-2 us of dispatch each, ~10 per step), so the loop is
// overhead-bound; no library offers "a recurrent loop of tiny products" as one call. Here
// each (member, chunk of windows) runs its whole time loop in registers and L1 cache, the
// windows of a chunk as the SIMD lanes (so the vector width does not depend on M or L), and
// the (member, chunk) pairs run in parallel on torch's intra-op threads, each taken by the
// next free thread (for_each_item).
//
// Model and adjoint: see neurodsr/models/fused.py (the same equations, the same buffers).
// Layouts (all float32, contiguous): x (T+1, E, B, N), zs (T+1, E, B, M1) with M1 = M + 1 for
// the shPLRNN (the last unit stays 1: h2 as W2's last column, as the torch path stores it),
// r (T, E, B, L), diff (T, E, B, N); A, h1 (E, M); W1 (E, M, L); W2 (E, L, M); h2 (E, L).

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace {

// NEURODSR_VBYTES / 4 float32 lanes per vector: 64 bytes (16 lanes) where the build target has
// AVX-512 (6 % less time per 16-member pass than 8 lanes in the median of six interleaved
// comparisons on an AMD EPYC, from 7.5 % less to 4 % more; benchmarks/README.md), else 32
// (8 lanes, AVX2); GCC's vector extension compiles to the target's SIMD or to scalars.
#ifndef NEURODSR_VBYTES
#ifdef __AVX512F__
#define NEURODSR_VBYTES 64
#else
#define NEURODSR_VBYTES 32
#endif
#endif
typedef float vf __attribute__((vector_size(NEURODSR_VBYTES), may_alias));
constexpr int VL = NEURODSR_VBYTES / 4;

template <int NV>
struct Lanes {
  vf v[NV];
};

// out[j] = bias[j] + sum_k W[j, k] in[k], j < J, for NV x VL lanes; W row-major (J, K).
// Four outputs at a time: four independent FMA chains per lane vector, one load of in[k].
template <int NV>
inline void matvec(const float* __restrict W, const float* __restrict bias, int J, int K,
                   const Lanes<NV>* __restrict in, Lanes<NV>* __restrict out) {
  int j = 0;
  for (; j + 4 <= J; j += 4) {
    Lanes<NV> acc[4];
    for (int i = 0; i < 4; ++i)
      for (int v = 0; v < NV; ++v) acc[i].v[v] = vf{} + (bias ? bias[j + i] : 0.0f);
    const float* w0 = W + (int64_t)j * K;
    for (int k = 0; k < K; ++k) {
      const float a0 = w0[k], a1 = w0[K + k], a2 = w0[2 * K + k], a3 = w0[3 * K + k];
      for (int v = 0; v < NV; ++v) {
        const vf x = in[k].v[v];
        acc[0].v[v] += a0 * x;
        acc[1].v[v] += a1 * x;
        acc[2].v[v] += a2 * x;
        acc[3].v[v] += a3 * x;
      }
    }
    for (int i = 0; i < 4; ++i) out[j + i] = acc[i];
  }
  // the last J % 4 outputs (all of them when J < 4, e.g. M = 3 latent units from L = 50):
  // four partial sums over k, so that the FMAs do not wait on one another
  for (; j < J; ++j) {
    vf acc[4][NV];
    for (int i = 0; i < 4; ++i)
      for (int v = 0; v < NV; ++v) acc[i][v] = vf{};
    const float* w = W + (int64_t)j * K;
    int k = 0;
    for (; k + 4 <= K; k += 4)
      for (int i = 0; i < 4; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] += w[k + i] * in[k + i].v[v];
    for (; k < K; ++k)
      for (int v = 0; v < NV; ++v) acc[0][v] += w[k] * in[k].v[v];
    for (int v = 0; v < NV; ++v)
      out[j].v[v] = ((acc[0][v] + acc[1][v]) + (acc[2][v] + acc[3][v])) +
                    (bias ? bias[j] : 0.0f);
  }
}

// max(x, 0) lane by lane, as x > 0 ? x : 0 gives it for every x (-0 and NaN give +0: the
// SIMD max returns its second operand when either is NaN or both are zeros), in one
// instruction where GCC compiles the ternary to a compare and a masked move (the fused
// kernel's forward loop took 10 % less time with it)
inline vf relu(vf x) {
#if defined(__AVX512F__) && NEURODSR_VBYTES == 64
  return (vf)_mm512_max_ps((__m512)x, _mm512_setzero_ps());
#elif defined(__AVX__) && NEURODSR_VBYTES == 32
  return (vf)_mm256_max_ps((__m256)x, _mm256_setzero_ps());
#else
  return x > 0.0f ? x : vf{};
#endif
}

inline float lane(const vf* p, int i) { return reinterpret_cast<const float*>(p)[i]; }
inline float& lane(vf* p, int i) { return reinterpret_cast<float*>(p)[i]; }

inline bool forced(int t, int tau, int n_t) { return tau > 0 && t < n_t && t % tau == 0; }

struct Dims {
  int64_t n_t, e, b, n, m, m1, l;
  bool sh;  // shPLRNN (W2 given); else PLRNN (L = M, r = relu(z))
  bool clip;  // clipped shPLRNN: r = relu(W2 z + h2) - relu(W2 z)
  // dendPLRNN (PLRNN layout, nbases > 0): r_m = sum_b bw[b] relu(z_m - th[b, m]), with bw
  // (E, nbases) and th (E, nbases, M)
  int64_t nbases;
  const float* bw;
  const float* th;
};

// The dendPLRNN's basis expansion of one unit's lanes: sum_b w_b relu(z - theta_b), in the
// order of torch's einsum over b (ascending).
template <int NV>
inline void dend_phi(const Lanes<NV>& z, const float* w, const float* th, int64_t nbases,
                     int64_t M, Lanes<NV>& out) {
  for (int v = 0; v < NV; ++v) {
    vf s{};
    for (int64_t b = 0; b < nbases; ++b) {
      const vf diff = z.v[v] - th[b * M];
      s += w[b] * (diff > 0.0f ? diff : vf{});
    }
    out.v[v] = s;
  }
}

// One (member, chunk of windows) forward: states, hidden activations, prediction errors.
template <int NV>
void forward_chunk(const Dims& d, int64_t e, int64_t b0, int nb, const float* x, float* zs,
                   float* r_all, float* diff, const float* A, const float* W1, const float* W2,
                   const float* h1, const float* h2, const float* alpha, const int64_t* taus) {
  constexpr int BC = NV * VL;
  const int64_t M = d.m, M1 = d.m1, L = d.l, N = d.n;
  const int tau = (int)taus[e];  // this member's forcing interval (0: none)
  std::vector<Lanes<NV>> z(M1), r(L), zn(M);
  const float* a = A + e * M;
  const float* w1 = W1 + e * M * L;
  const float* w2 = d.sh ? W2 + e * L * M : nullptr;
  const float* c1 = h1 + e * M;
  const float* c2 = d.sh ? h2 + e * L : nullptr;
  const float al = alpha[e];
  // strides of one step and of one window in the (T, E, B, .) buffers
  auto at = [&](int64_t t, int64_t width) { return (t * d.e + e) * d.b * width + b0 * width; };
  for (int64_t k = 0; k < M1; ++k)
    for (int i = 0; i < BC; ++i) lane(z[k].v, i) = i < nb ? zs[at(0, M1) + i * M1 + k] : 0.0f;
  for (int64_t t = 0; t < d.n_t; ++t) {
    if (d.clip) {
      matvec<NV>(w2, nullptr, L, M, z.data(), r.data());  // lin = W2 z
      for (int64_t k = 0; k < L; ++k)
        for (int v = 0; v < NV; ++v) {
          const vf lin = r[k].v[v], pre = lin + c2[k];
          r[k].v[v] = (pre > 0.0f ? pre : vf{}) - (lin > 0.0f ? lin : vf{});
        }
    } else if (d.sh) {
      matvec<NV>(w2, c2, L, M, z.data(), r.data());  // pre = W2 z + h2
      for (int64_t k = 0; k < L; ++k)
        for (int v = 0; v < NV; ++v) r[k].v[v] = r[k].v[v] > 0.0f ? r[k].v[v] : vf{};
    } else if (d.nbases) {
      for (int64_t k = 0; k < M; ++k)
        dend_phi<NV>(z[k], d.bw + e * d.nbases, d.th + e * d.nbases * M + k, d.nbases, M, r[k]);
    } else {
      for (int64_t k = 0; k < M; ++k)
        for (int v = 0; v < NV; ++v) r[k].v[v] = z[k].v[v] > 0.0f ? z[k].v[v] : vf{};
    }
    matvec<NV>(w1, c1, M, L, r.data(), zn.data());  // W1 r + h1
    for (int64_t k = 0; k < M; ++k)
      for (int v = 0; v < NV; ++v) zn[k].v[v] += a[k] * z[k].v[v];
    if (r_all) {  // (a free run keeps no activations)
      float* rt = r_all + at(t, L);
      for (int i = 0; i < nb; ++i)
        for (int64_t k = 0; k < L; ++k) rt[i * L + k] = lane(r[k].v, i);
    }
    const bool f = forced((int)t + 1, tau, (int)d.n_t);
    if (N > 0) {
      const float* xt = x + at(t + 1, N);
      float* dt = diff + at(t, N);
      for (int i = 0; i < nb; ++i)
        for (int64_t k = 0; k < N; ++k) {
          const float err = lane(zn[k].v, i) - xt[i * N + k];
          dt[i * N + k] = err;
          if (f) lane(zn[k].v, i) -= al * err;  // (1 - alpha) z + alpha x
        }
    }
    for (int64_t k = 0; k < M; ++k) z[k] = zn[k];
    float* zt = zs + at(t + 1, M1);
    for (int i = 0; i < nb; ++i) {
      for (int64_t k = 0; k < M; ++k) zt[i * M1 + k] = lane(z[k].v, i);
      if (M1 > M) zt[i * M1 + M] = 1.0f;
    }
  }
}

// One (member, chunk) adjoint: delta_t = dLoss/dz_t (before forcing), t = 0..T, and u_t.
template <int NV>
void backward_chunk(const Dims& d, int64_t e, int64_t b0, int nb, const float* g_pred,
                    const float* r_all, float* delta, float* u_all, const float* A,
                    const float* W1t, const float* W2t, const float* alpha,
                    const int64_t* taus) {
  constexpr int BC = NV * VL;
  const int64_t M = d.m, L = d.l, N = d.n;
  const int tau = (int)taus[e];
  std::vector<Lanes<NV>> c(M), u(L), cn(M);
  const float* a = A + e * M;
  const float* w1t = W1t + e * L * M;  // (L, M): u = W1^T d
  const float* w2t = d.sh ? W2t + e * M * L : nullptr;  // (M, L): W2^T u
  const float keep = 1.0f - alpha[e];
  auto at = [&](int64_t t, int64_t width) { return (t * d.e + e) * d.b * width + b0 * width; };
  for (int64_t k = 0; k < M; ++k)
    for (int v = 0; v < NV; ++v) c[k].v[v] = vf{};
  for (int64_t t = d.n_t - 1; t >= 0; --t) {
    // d = dLoss/dz_{t+1}: what flows back (scaled at a forcing step) plus the loss term
    if (forced((int)t + 1, tau, (int)d.n_t))
      for (int64_t k = 0; k < N; ++k)
        for (int v = 0; v < NV; ++v) c[k].v[v] *= keep;
    const float* g = g_pred + at(t, N);
    for (int i = 0; i < nb; ++i)
      for (int64_t k = 0; k < N; ++k) lane(c[k].v, i) += g[i * N + k];
    float* dt = delta + at(t + 1, M);
    for (int i = 0; i < nb; ++i)
      for (int64_t k = 0; k < M; ++k) dt[i * M + k] = lane(c[k].v, i);
    matvec<NV>(w1t, nullptr, L, M, c.data(), u.data());  // W1^T d
    const float* rt = r_all + at(t, L);
    for (int i = 0; i < BC; ++i)
      for (int64_t k = 0; k < L; ++k)
        if (i >= nb || !(rt[i * L + k] > 0.0f)) lane(u[k].v, i) = 0.0f;  // relu'
    float* ut = u_all + at(t, L);
    for (int i = 0; i < nb; ++i)
      for (int64_t k = 0; k < L; ++k) ut[i * L + k] = lane(u[k].v, i);
    if (d.sh) {
      matvec<NV>(w2t, nullptr, M, L, u.data(), cn.data());  // W2^T u
    } else {
      for (int64_t k = 0; k < M; ++k) cn[k] = u[k];
    }
    for (int64_t k = 0; k < M; ++k)
      for (int v = 0; v < NV; ++v) c[k].v[v] = cn[k].v[v] + a[k] * c[k].v[v];
  }
  float* d0 = delta + at(0, M);
  for (int i = 0; i < nb; ++i)
    for (int64_t k = 0; k < M; ++k) d0[i * M + k] = lane(c[k].v, i);
}

// ---------------------------------------------------------------- training: one call per window
//
// Forward and adjoint of one (member, chunk of windows) back to back, so the chunk's
// activations (kept lane-major in a per-thread scratch buffer) are still in L2 cache when the
// adjoint reads them, and the weight gradients summed in the same loop (as lane vectors,
// reduced over the lanes at the end): no (T, E, B, .) buffers, no products after the loop.

struct TrainDims {
  int64_t n_t, e, nch, b, n, m, l;
  bool sh, clip;  // as in Dims
  int64_t nbases;  // as in Dims, with the basis' gradients (E, C, nbases), (E, C, nbases, M)
  const float* bw;
  const float* th;
  float* gbw;
  float* gth;
};

template <int NV>
inline Lanes<NV> zero_lanes() {
  Lanes<NV> z;
  for (int v = 0; v < NV; ++v) z.v[v] = vf{};
  return z;
}

template <int NV>
inline float hsum(const Lanes<NV>& a) {
  float s = 0.0f;
  for (int i = 0; i < NV * VL; ++i) s += lane(a.v, i);
  return s;
}

// G[j, k] = sum_t sum_lanes P[t, j] Q[t, k] for a JB x KB block: JB * KB * NV accumulators
// in registers, JB + KB lane loads per JB * KB FMAs (a small GEMM over time and lanes).
template <int NV, int JB, int KB>
inline void outer_block(const Lanes<NV>* P, const Lanes<NV>* Q, int64_t J, int64_t K,
                        int64_t T, int64_t j, int64_t k, float* G) {
  vf acc[JB][KB][NV];
  for (int a = 0; a < JB; ++a)
    for (int b = 0; b < KB; ++b)
      for (int v = 0; v < NV; ++v) acc[a][b][v] = vf{};
  for (int64_t t = 0; t < T; ++t) {
    const Lanes<NV>* p = P + t * J + j;
    const Lanes<NV>* q = Q + t * K + k;
    for (int v = 0; v < NV; ++v)
      for (int a = 0; a < JB; ++a)
        for (int b = 0; b < KB; ++b) acc[a][b][v] += p[a].v[v] * q[b].v[v];
  }
  for (int a = 0; a < JB; ++a)
    for (int b = 0; b < KB; ++b) {
      float s = 0.0f;
      for (int v = 0; v < NV; ++v)
        for (int i = 0; i < VL; ++i) s += acc[a][b][v][i];
      G[(j + a) * K + k + b] = s;
    }
}

// G (J, K) = sum over t < T and the lanes of P[t] Q[t]^T; P (T, J) and Q (T, K) lane vectors.
template <int NV>
void outer_sum(const Lanes<NV>* P, const Lanes<NV>* Q, int64_t J, int64_t K, int64_t T,
               float* G) {
  int64_t j = 0;
  for (; j + 2 <= J; j += 2) {
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) outer_block<NV, 2, 4>(P, Q, J, K, T, j, k, G);
    for (; k < K; ++k) outer_block<NV, 2, 1>(P, Q, J, K, T, j, k, G);
  }
  for (; j < J; ++j) {
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) outer_block<NV, 1, 4>(P, Q, J, K, T, j, k, G);
    for (; k < K; ++k) outer_block<NV, 1, 1>(P, Q, J, K, T, j, k, G);
  }
}

template <int NV>
void gather_windows(int64_t n_t, int64_t n, int64_t e_dim, int64_t b_dim, int64_t e,
                    int64_t b0, int nb, const float* xs, const int64_t* starts, Lanes<NV>* x) {
  // the chunk's windows into lanes (T+1, N); padding lanes repeat the chunk's first window
  // (finite wherever a real one is; masked out of loss and gradients). starts (E, B): x is
  // the series (time, N) and window b starts at row starts[e, b]; else x is (T+1, E, B, N).
  constexpr int BC = NV * VL;
  // as plain floats, lane-major: out[(t * n + k) * BC + i] is lane i of x[t * n + k]
  float* __restrict out = reinterpret_cast<float*>(x);
  const float* rows[BC];  // each lane's window at t = 0, and the step from one t to the next
  int64_t step;
  if (starts) {
    const int64_t* st = starts + e * b_dim + b0;
    for (int i = 0; i < BC; ++i) rows[i] = xs + st[i < nb ? i : 0] * n;
    step = n;
  } else {
    for (int i = 0; i < BC; ++i) rows[i] = xs + ((e * b_dim) + b0 + (i < nb ? i : 0)) * n;
    step = e_dim * b_dim * n;
  }
  for (int64_t t = 0; t <= n_t; ++t)
    for (int64_t k = 0; k < n; ++k) {
      float* __restrict o = out + (t * n + k) * BC;
      const int64_t off = t * step + k;
      for (int i = 0; i < BC; ++i) o[i] = rows[i][off];
    }
}

template <int NV>
void train_chunk(const TrainDims& d, int64_t e, int64_t ch, int nb, const float* xs,
                 const int64_t* starts, const float* init, const float* A, const float* W1, const float* W1t,
                 const float* W2, const float* W2t, const float* h1, const float* h2,
                 const float* alpha, const int64_t* taus, const float* scale, float* loss,
                 float* gA, float* gh1, float* gW1, float* gW2, float* gh2, float* gL) {
  using LN = Lanes<NV>;
  constexpr int BC = NV * VL;
  const int64_t T = d.n_t, M = d.m, L = d.l, N = d.n;
  const int64_t chunk = e * d.nch + ch;
  // scratch: z_0..z_T (after forcing), r_1..r_T, masked errors; then the adjoint's vectors and
  // the gradient accumulators. Kept per thread between calls (no fresh pages every step).
  const int64_t n_z = (T + 1) * M, n_r = T * L, n_e = T * N;
  const int64_t n_acc = 2 * M + L;
  const int64_t n_x = (T + 1) * N;
  const int64_t n_lin = d.clip ? T * L : 0;  // the clipped model's W2 z_{t-1}, for its masks
  const int64_t n_basis = d.nbases * (M + 1);  // dendPLRNN: accumulators of bw's and th's grads
  const int64_t need = n_z + n_r + n_e + T * M + T * L + M + n_acc + n_x + n_lin + n_basis;
  thread_local std::vector<LN> scratch;
  if ((int64_t)scratch.size() < need) scratch.resize(need);
  LN* zb = scratch.data();
  LN* rb = zb + n_z;
  LN* eb = rb + n_r;
  LN* db = eb + n_e;  // d_1..d_T (dLoss/dz_t before forcing), then u_1..u_T
  LN* ub = db + T * M;
  LN* c = ub + T * L;
  LN* acc = c + M;
  LN *aA = acc, *ah1 = aA + M, *ah2 = ah1 + M;
  LN* x = ah2 + L;  // the chunk's windows, lane-major (T+1, N)
  LN* lb = x + n_x;  // clipped: lin_1..lin_T (T, L)
  LN* abw = lb + n_lin;  // dendPLRNN: (nbases,) then (nbases, M) accumulators
  LN* ath = abw + d.nbases;
  for (int64_t k = 0; k < n_basis; ++k) abw[k] = zero_lanes<NV>();
  const float* bw = d.nbases ? d.bw + e * d.nbases : nullptr;
  const float* th = d.nbases ? d.th + e * d.nbases * M : nullptr;
  for (int64_t k = 0; k < n_acc; ++k) acc[k] = zero_lanes<NV>();

  const float* a = A + e * M;
  const float* w1 = W1 + e * M * L;
  const float* w1t = W1t + e * L * M;
  const float* w2 = d.sh ? W2 + e * L * M : nullptr;
  const float* w2t = d.sh ? W2t + e * M * L : nullptr;
  const float* c1 = h1 + e * M;
  const float* c2 = d.sh ? h2 + e * L : nullptr;
  const float al = alpha[e], keep = 1.0f - alpha[e], sc = scale[e];
  const int tau = (int)taus[e];  // this member's forcing interval (0: none)
  LN valid;  // 1 on the lanes that hold a window, 0 on the padding
  for (int i = 0; i < BC; ++i) lane(valid.v, i) = i < nb ? 1.0f : 0.0f;
  gather_windows<NV>(T, N, d.e, d.b, e, ch * BC, nb, xs, starts, x);
  // z_0 = [x_0, L x_0]
  for (int64_t k = 0; k < N; ++k) zb[k] = x[k];
  const float* lmap = init + e * (M - N) * N;
  if (M > N) matvec<NV>(lmap, nullptr, M - N, N, x, zb + N);

  // forward
  LN lsum = zero_lanes<NV>();
  for (int64_t t = 0; t < T; ++t) {
    const LN* zc = zb + t * M;
    LN* zn = zb + (t + 1) * M;
    LN* rc = rb + t * L;
    if (d.clip) {
      // r = relu(lin + h2) - relu(lin), lin = W2 z, summed in the order autograd's model does
      LN* lc = lb + t * L;
      matvec<NV>(w2, nullptr, L, M, zc, lc);
      for (int64_t k = 0; k < L; ++k)
        for (int v = 0; v < NV; ++v) {
          const vf lin = lc[k].v[v], pre = lin + c2[k];
          rc[k].v[v] = (pre > 0.0f ? pre : vf{}) - (lin > 0.0f ? lin : vf{});
        }
    } else if (d.sh) {
      matvec<NV>(w2, c2, L, M, zc, rc);
      for (int64_t k = 0; k < L; ++k)
        for (int v = 0; v < NV; ++v) rc[k].v[v] = rc[k].v[v] > 0.0f ? rc[k].v[v] : vf{};
    } else if (d.nbases) {
      for (int64_t k = 0; k < M; ++k) dend_phi<NV>(zc[k], bw, th + k, d.nbases, M, rc[k]);
    } else {
      for (int64_t k = 0; k < M; ++k)
        for (int v = 0; v < NV; ++v) rc[k].v[v] = zc[k].v[v] > 0.0f ? zc[k].v[v] : vf{};
    }
    matvec<NV>(w1, c1, M, L, rc, zn);
    for (int64_t k = 0; k < M; ++k)
      for (int v = 0; v < NV; ++v) zn[k].v[v] += a[k] * zc[k].v[v];
    const bool f = forced((int)t + 1, tau, (int)T);
    const LN* xt = x + (t + 1) * N;
    LN* et = eb + t * N;
    for (int64_t k = 0; k < N; ++k)
      for (int v = 0; v < NV; ++v) {
        const vf err = zn[k].v[v] - xt[k].v[v];
        // the padding lanes repeat a real window (finite where it is); masked from here on
        et[k].v[v] = err * valid.v[v];
        lsum.v[v] += et[k].v[v] * et[k].v[v];
        if (f) zn[k].v[v] -= al * err;  // (1 - alpha) z + alpha x
      }
  }
  loss[chunk] = hsum<NV>(lsum);

  // adjoint, t = T..1; the weight gradients after it, from the saved d_t and u_t
  for (int64_t k = 0; k < M; ++k) c[k] = zero_lanes<NV>();
  for (int64_t t = T - 1; t >= 0; --t) {
    const bool f = forced((int)t + 1, tau, (int)T);
    const LN* et = eb + t * N;
    const LN* zc = zb + t * M;
    const LN* rc = rb + t * L;
    LN* dd = db + t * M;
    LN* u = ub + t * L;
    for (int64_t k = 0; k < M; ++k) dd[k] = c[k];
    for (int64_t k = 0; k < N; ++k)
      for (int v = 0; v < NV; ++v)
        dd[k].v[v] = (f ? keep * dd[k].v[v] : dd[k].v[v]) + sc * et[k].v[v];
    for (int64_t j = 0; j < M; ++j)
      for (int v = 0; v < NV; ++v) {
        aA[j].v[v] += dd[j].v[v] * zc[j].v[v];
        ah1[j].v[v] += dd[j].v[v];
      }
    matvec<NV>(w1t, nullptr, L, M, dd, u);  // g = W1^T d
    if (d.clip) {
      // d r / d lin = 1[lin + h2 > 0] - 1[lin > 0]; h2 enters the first ReLU only
      const LN* lc = lb + t * L;
      for (int64_t k = 0; k < L; ++k)
        for (int v = 0; v < NV; ++v) {
          const vf g = u[k].v[v], lin = lc[k].v[v];
          const vf up = lin + c2[k] > 0.0f ? g : vf{};
          ah2[k].v[v] += up;
          u[k].v[v] = up - (lin > 0.0f ? g : vf{});
        }
    } else if (d.nbases) {
      // g = W^T d; u = g * sum_b bw_b 1[z > th_b]; d bw_b += g relu(z - th_b),
      // d th_b -= g bw_b 1[z > th_b] (negated at the end)
      for (int64_t k = 0; k < M; ++k)
        for (int v = 0; v < NV; ++v) {
          const vf g = u[k].v[v], zv = zc[k].v[v];
          vf slope{};
          for (int64_t b = 0; b < d.nbases; ++b) {
            const vf diff = zv - th[b * M + k];
            const vf on = diff > 0.0f ? g : vf{};
            slope += diff > 0.0f ? bw[b] + vf{} : vf{};
            abw[b].v[v] += diff > 0.0f ? g * diff : vf{};
            ath[b * M + k].v[v] += bw[b] * on;
          }
          u[k].v[v] = g * slope;
        }
    } else {
      for (int64_t k = 0; k < L; ++k)
        for (int v = 0; v < NV; ++v) u[k].v[v] = rc[k].v[v] > 0.0f ? u[k].v[v] : vf{};
      if (d.sh)
        for (int64_t k = 0; k < L; ++k)
          for (int v = 0; v < NV; ++v) ah2[k].v[v] += u[k].v[v];
    }
    if (d.sh) {
      matvec<NV>(w2t, nullptr, M, L, u, c);  // W2^T u
      for (int64_t k = 0; k < M; ++k)
        for (int v = 0; v < NV; ++v) c[k].v[v] += a[k] * dd[k].v[v];
    } else {
      for (int64_t k = 0; k < M; ++k)
        for (int v = 0; v < NV; ++v) c[k].v[v] = u[k].v[v] + a[k] * dd[k].v[v];
    }
  }
  outer_sum<NV>(db, rb, M, L, T, gW1 + chunk * M * L);  // dW1 = sum d r^T
  if (d.sh) outer_sum<NV>(ub, zb, L, M, T, gW2 + chunk * L * M);  // dW2 = sum u z^T
  if (M > N) outer_sum<NV>(c + N, x, M - N, N, 1, gL + chunk * (M - N) * N);  // dL = c_0 x_0^T
  for (int64_t k = 0; k < M; ++k) {
    gA[chunk * M + k] = hsum<NV>(aA[k]);
    gh1[chunk * M + k] = hsum<NV>(ah1[k]);
  }
  if (d.sh)
    for (int64_t k = 0; k < L; ++k) gh2[chunk * L + k] = hsum<NV>(ah2[k]);
  for (int64_t b = 0; b < d.nbases; ++b) {
    d.gbw[chunk * d.nbases + b] = hsum<NV>(abw[b]);
    for (int64_t k = 0; k < M; ++k)
      d.gth[(chunk * d.nbases + b) * M + k] = -hsum<NV>(ath[b * M + k]);
  }
}

// ------------------------------------------------ the shPLRNN with few latent units, fused
//
// The pipeline's and the Lorenz models (M = 3 latent units, L = 50 hidden) spend their step in
// L x M and M x L products, where the generic matvec above runs M = 3 separate dot products of
// length L (two loads per FMA) and the weight gradients re-read the (T, L) buffers from L2 for
// each of M columns. Here M is a compile-time constant (M <= 8): the latent state stays in
// registers, and each hidden unit k is done in one go in both directions, reading row k of W2
// and of W1^T once:
//   forward  pre_k = h2_k + W2[k] . z;  r_k = relu(pre_k);  z' += W1[:, k] r_k
//   adjoint  g_k = W1[:, k] . d;  u_k = 1[r_k > 0] g_k;  c += W2[k]^T u_k
// The weight gradients dW1 = sum d r^T, dW2 = sum u z^T, dh2 = sum u are summed every TB steps
// of the adjoint, over the steps just done (their r and u still in L1/L2), with the small M
// side of each outer product in registers; u needs no (T, L) buffer. The same equations and
// masks as train_chunk; only the order of the float sums differs.

constexpr int SH_TB = 16;  // adjoint steps per block of the weight gradients' sums

// Reads a lane vector with exactly one load (a volatile read): the compiler may not fold it
// into every FMA that uses it as a memory operand, as it did in the outer products below
// (GCC 12: 16 loads per 12 FMAs, where an AMD Zen 4 core does one 64-byte load per cycle, as
// many as 64-byte FMAs). With it, and the last K % KB columns in registers too, the
// 16-member pass took 14-18 % less time (benchmarks/README.md, "The pass against the machine").
inline vf in_register(const vf& from) { return *reinterpret_cast<const volatile vf*>(&from); }

// Columns k..k+KB of G[j, k] += sum_s P_s[j] Q_s[k] (j < MS; G row-major (MS, K), or (K, MS)
// when ``TR``; P (ns, MS), Q (ns, K) lane vectors), plus H[k] += sum_s Q_s[k] when
// ``WITH_H``: MS * KB (+ KB) accumulators in registers for the ns steps, and per step MS + KB
// loads for MS * KB FMAs.
template <int NV, int MS, int KB, bool TR, bool WITH_H>
inline void outer_cols(int64_t K, int ns, int64_t k, int v, const Lanes<NV>* __restrict P,
                       const Lanes<NV>* __restrict Q, Lanes<NV>* __restrict G,
                       Lanes<NV>* __restrict H) {
  auto at = [&](int64_t j, int64_t kk) { return TR ? kk * MS + j : j * K + kk; };
  vf acc[MS][KB], ah[KB];
  for (int j = 0; j < MS; ++j)
    for (int q = 0; q < KB; ++q) acc[j][q] = G[at(j, k + q)].v[v];
  for (int q = 0; q < KB; ++q) ah[q] = WITH_H ? H[k + q].v[v] : vf{};
  for (int s = 0; s < ns; ++s) {
    vf ps[MS], qs[KB];
    for (int j = 0; j < MS; ++j) ps[j] = in_register(P[s * MS + j].v[v]);
    for (int q = 0; q < KB; ++q) qs[q] = in_register(Q[s * K + k + q].v[v]);
    for (int q = 0; q < KB; ++q) {
      if (WITH_H) ah[q] += qs[q];
      for (int j = 0; j < MS; ++j) acc[j][q] += ps[j] * qs[q];
    }
  }
  for (int j = 0; j < MS; ++j)
    for (int q = 0; q < KB; ++q) G[at(j, k + q)].v[v] = acc[j][q];
  if (WITH_H)
    for (int q = 0; q < KB; ++q) H[k + q].v[v] = ah[q];
}

// G[j, k] += sum_s P_s[j] Q_s[k] for all k < K (see outer_cols): the block's outer products
// with the small side (MS) and KB columns of accumulators in registers (MS * KB + KB of them
// plus MS + KB operands: within the 32 vector registers of AVX-512 for MS <= 6), the last
// K % KB columns one at a time
template <int NV, int MS, bool TR, bool WITH_H>
inline void block_outer(int64_t K, int ns, const Lanes<NV>* __restrict P,
                        const Lanes<NV>* __restrict Q, Lanes<NV>* __restrict G,
                        Lanes<NV>* __restrict H) {
  constexpr int KB = MS <= 3 ? 4 : MS <= 6 ? 2 : 1;
  for (int v = 0; v < NV; ++v) {
    int64_t k = 0;
    for (; k + KB <= K; k += KB) outer_cols<NV, MS, KB, TR, WITH_H>(K, ns, k, v, P, Q, G, H);
    for (; k < K; ++k) outer_cols<NV, MS, 1, TR, WITH_H>(K, ns, k, v, P, Q, G, H);
  }
}

template <int NV, int MS>
void train_chunk_sh(const TrainDims& d, int64_t e, int64_t ch, int nb, const float* xs,
                    const int64_t* starts, const float* init, const float* A, const float* W1t,
                    const float* W2, const float* h1, const float* h2, const float* alpha,
                    const int64_t* taus, const float* scale, float* loss, float* gA,
                    float* gh1, float* gW1, float* gW2, float* gh2, float* gL) {
  using LN = Lanes<NV>;
  constexpr int BC = NV * VL;
  constexpr int64_t M = MS;
  const int64_t T = d.n_t, L = d.l, N = d.n;
  const int64_t chunk = e * d.nch + ch;
  // scratch: z_0..z_T (after forcing), r_1..r_T, masked errors, the windows, d_1..d_T, a
  // block of u, the accumulators of dW1, dW2, dh2. Kept per thread between calls.
  const int64_t n_z = (T + 1) * M, n_r = T * L, n_e = T * N, n_x = (T + 1) * N;
  const int64_t need = n_z + n_r + n_e + n_x + T * M + SH_TB * L + 2 * M * L + L;
  thread_local std::vector<LN> scratch;
  if ((int64_t)scratch.size() < need) scratch.resize(need);
  LN* zb = scratch.data();
  LN* rb = zb + n_z;
  LN* eb = rb + n_r;
  LN* x = eb + n_e;
  LN* db = x + n_x;
  LN* ub = db + T * M;
  LN* aw1 = ub + SH_TB * L;  // (M, L)
  LN* aw2 = aw1 + M * L;  // (L, M)
  LN* ah2 = aw2 + L * M;  // (L,)
  for (int64_t k = 0; k < 2 * M * L + L; ++k) aw1[k] = zero_lanes<NV>();

  const float* a = A + e * M;
  const float* w1t = W1t + e * L * M;  // (L, M): row k = W1[:, k]
  const float* w2 = W2 + e * L * M;  // (L, M)
  const float* c1 = h1 + e * M;
  const float* c2 = h2 + e * L;
  const float al = alpha[e], keep = 1.0f - alpha[e], sc = scale[e];
  const int tau = (int)taus[e];
  LN valid;
  for (int i = 0; i < BC; ++i) lane(valid.v, i) = i < nb ? 1.0f : 0.0f;
  gather_windows<NV>(T, N, d.e, d.b, e, ch * BC, nb, xs, starts, x);
  for (int64_t k = 0; k < N; ++k) zb[k] = x[k];
  if (M > N) matvec<NV>(init + e * (M - N) * N, nullptr, M - N, N, x, zb + N);

  // forward
  LN lsum = zero_lanes<NV>();
  LN z[MS];
  for (int j = 0; j < MS; ++j) z[j] = zb[j];
  for (int64_t t = 0; t < T; ++t) {
    LN acc[MS], acc2[MS];  // two partial sums over k (even, odd): independent FMA chains
    for (int j = 0; j < MS; ++j)
      for (int v = 0; v < NV; ++v) {
        acc[j].v[v] = c1[j] + a[j] * z[j].v[v];
        acc2[j].v[v] = vf{};
      }
    LN* rt = rb + t * L;
    int64_t k = 0;
    auto unit = [&](int64_t kk, LN* out) {
      const float* w2k = w2 + kk * M;
      const float* w1k = w1t + kk * M;
      for (int v = 0; v < NV; ++v) {
        vf pre = vf{} + c2[kk];
        for (int j = 0; j < MS; ++j) pre += w2k[j] * z[j].v[v];
        pre = relu(pre);
        rt[kk].v[v] = pre;
        for (int j = 0; j < MS; ++j) out[j].v[v] += w1k[j] * pre;
      }
    };
    for (; k + 2 <= L; k += 2) {
      unit(k, acc);
      unit(k + 1, acc2);
    }
    if (k < L) unit(k, acc);
    for (int j = 0; j < MS; ++j)
      for (int v = 0; v < NV; ++v) acc[j].v[v] += acc2[j].v[v];
    const bool f = forced((int)t + 1, tau, (int)T);
    const LN* xt = x + (t + 1) * N;
    LN* et = eb + t * N;
    for (int64_t kk = 0; kk < N; ++kk)
      for (int v = 0; v < NV; ++v) {
        const vf err = acc[kk].v[v] - xt[kk].v[v];
        et[kk].v[v] = err * valid.v[v];
        lsum.v[v] += et[kk].v[v] * et[kk].v[v];
        if (f) acc[kk].v[v] -= al * err;  // (1 - alpha) z + alpha x
      }
    for (int j = 0; j < MS; ++j) z[j] = zb[(t + 1) * M + j] = acc[j];
  }
  loss[chunk] = hsum<NV>(lsum);

  // adjoint, t = T..1, the weight gradients every SH_TB steps
  LN c[MS], aA[MS], ah1[MS];
  for (int j = 0; j < MS; ++j) c[j] = aA[j] = ah1[j] = zero_lanes<NV>();
  for (int64_t t = T - 1; t >= 0; --t) {
    const bool f = forced((int)t + 1, tau, (int)T);
    const LN* et = eb + t * N;
    const LN* zc = zb + t * M;
    LN* dd = db + t * M;
    LN dv[MS], cn[MS], cn2[MS];
    for (int j = 0; j < MS; ++j) dv[j] = c[j];
    for (int64_t k = 0; k < N; ++k)
      for (int v = 0; v < NV; ++v)
        dv[k].v[v] = (f ? keep * dv[k].v[v] : dv[k].v[v]) + sc * et[k].v[v];
    for (int j = 0; j < MS; ++j) {
      dd[j] = dv[j];
      for (int v = 0; v < NV; ++v) {
        aA[j].v[v] += dv[j].v[v] * zc[j].v[v];
        ah1[j].v[v] += dv[j].v[v];
        cn[j].v[v] = a[j] * dv[j].v[v];
        cn2[j].v[v] = vf{};
      }
    }
    const LN* rt = rb + t * L;
    LN* ut = ub + (t % SH_TB) * L;
    auto unit = [&](int64_t kk, LN* out) {
      const float* w1k = w1t + kk * M;
      const float* w2k = w2 + kk * M;
      for (int v = 0; v < NV; ++v) {
        vf g{};
        for (int j = 0; j < MS; ++j) g += w1k[j] * dv[j].v[v];
        const vf u = rt[kk].v[v] > 0.0f ? g : vf{};
        ut[kk].v[v] = u;
        for (int j = 0; j < MS; ++j) out[j].v[v] += w2k[j] * u;
      }
    };
    int64_t k = 0;
    for (; k + 2 <= L; k += 2) {
      unit(k, cn);
      unit(k + 1, cn2);
    }
    if (k < L) unit(k, cn);
    for (int j = 0; j < MS; ++j)
      for (int v = 0; v < NV; ++v) c[j].v[v] = cn[j].v[v] + cn2[j].v[v];
    if (t % SH_TB == 0) {
      const int ns = (int)std::min<int64_t>(SH_TB, T - t);
      // dW1 += sum d r^T (M, L); dW2 += sum u z^T (L, M) and dh2 += sum u, over the block
      block_outer<NV, MS, false, false>(L, ns, db + t * M, rb + t * L, aw1, nullptr);
      block_outer<NV, MS, true, true>(L, ns, zb + t * M, ub, aw2, ah2);
    }
  }
  for (int64_t j = 0; j < M; ++j) {
    gA[chunk * M + j] = hsum<NV>(aA[j]);
    gh1[chunk * M + j] = hsum<NV>(ah1[j]);
    for (int64_t k = 0; k < L; ++k) gW1[(chunk * M + j) * L + k] = hsum<NV>(aw1[j * L + k]);
  }
  for (int64_t k = 0; k < L; ++k) {
    gh2[chunk * L + k] = hsum<NV>(ah2[k]);
    for (int64_t j = 0; j < M; ++j) gW2[(chunk * L + k) * M + j] = hsum<NV>(aw2[k * M + j]);
  }
  if (M > N) outer_sum<NV>(c + N, x, M - N, N, 1, gL + chunk * (M - N) * N);  // c_0 x_0^T
}

void check(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.scalar_type() == at::kFloat, name, " must be float32");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

// Which PL model the optional arguments describe, checked: (shallow, dendritic).
std::pair<bool, bool> model_variant(const c10::optional<at::Tensor>& W2, bool clip,
                                    const c10::optional<at::Tensor>& bw,
                                    const c10::optional<at::Tensor>& th) {
  const bool sh = W2.has_value() && W2->defined();
  const bool dend = bw.has_value() && bw->defined();
  TORCH_CHECK(sh || !clip, "the clipped shPLRNN needs W2 and h2");
  TORCH_CHECK(!(dend && sh), "the dendPLRNN has no W2");
  if (dend) {
    check(*bw, "basis weights");
    check(*th, "thresholds");
  }
  return {sh, dend};
}

// taus: one forcing interval per member (int64 (E,), 0: not forced)
const int64_t* check_taus(const at::Tensor& taus, int64_t e) {
  TORCH_CHECK(taus.device().is_cpu() && taus.scalar_type() == at::kLong && taus.is_contiguous(),
              "taus must be a contiguous int64 CPU tensor");
  TORCH_CHECK(taus.dim() == 1 && taus.size(0) == e, "taus must have one interval per member");
  return taus.data_ptr<int64_t>();
}

// Windows per chunk: two vectors of lanes where that still gives every thread a chunk, else one.
int lanes_for(int64_t e, int64_t b) {
  const int64_t threads = at::get_num_threads();
  return (b > VL && e * ((b + 2 * VL - 1) / (2 * VL)) >= threads) ? 2 * VL : VL;
}

// body(i) for the work items i < n on torch's intra-op threads, each item taken by the next
// free thread from a shared counter (dynamic scheduling), not in at::parallel_for's one
// contiguous block per thread (static): with a static split the pass takes as long as its
// slowest thread's block, and on a shared or virtual machine a thread that starts late or
// runs slower (descheduled, or its core busy with another process) holds up the whole pass;
// here the other threads take over its remaining items. The items are (member, chunk of
// windows) pairs of about the same cost, tens of microseconds each, so one atomic increment
// per item costs nothing measurable. Each item writes only its own slots, so the results do
// not depend on which thread ran it.
template <typename F>
void for_each_item(int64_t n, F&& body) {
  const int64_t workers = std::min<int64_t>(at::get_num_threads(), n);
  if (workers <= 1 || at::in_parallel_region()) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  std::atomic<int64_t> next{0};
  at::parallel_for(0, workers, 1, [&](int64_t, int64_t) {
    for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
         i = next.fetch_add(1, std::memory_order_relaxed))
      body(i);
  });
}

template <typename F>
void over_chunks(int64_t e, int64_t b, int bc, F&& body) {
  const int64_t per = (b + bc - 1) / bc;
  for_each_item(e * per, [&](int64_t i) {
    const int64_t m = i / per, b0 = (i % per) * bc;
    body(m, b0, (int)std::min<int64_t>(bc, b - b0));
  });
}

}  // namespace

// x (T+1, E, B, N) [N may be 0: a free run], zs (T+1, E, B, M1) with zs[0] set; writes zs[1:],
// r (T, E, B, L) [or nothing when r is empty] and diff (T, E, B, N). W2, h2 undefined for the
// PLRNN. taus (E,): each member's forcing interval, 0: no forcing.
void pl_forward(const at::Tensor& x, const at::Tensor& zs, const at::Tensor& r,
                const at::Tensor& diff, const at::Tensor& A, const at::Tensor& W1,
                const c10::optional<at::Tensor>& W2, const at::Tensor& h1,
                const c10::optional<at::Tensor>& h2, const at::Tensor& alpha,
                const at::Tensor& taus, bool clip, const c10::optional<at::Tensor>& bw,
                const c10::optional<at::Tensor>& th) {
  const std::pair<bool, bool> variant = model_variant(W2, clip, bw, th);
  const bool sh = variant.first, dend = variant.second;
  for (auto* p : {&x, &zs, &r, &diff, &A, &W1, &h1, &alpha}) check(*p, "pl_forward argument");
  if (sh) {
    check(*W2, "W2");
    check(*h2, "h2");
  }
  Dims d{zs.size(0) - 1, zs.size(1), zs.size(2), x.size(3), A.size(1), zs.size(3),
         W1.size(2), sh, clip, dend ? bw->size(1) : 0,
         dend ? bw->data_ptr<float>() : nullptr, dend ? th->data_ptr<float>() : nullptr};
  TORCH_CHECK(x.size(0) == d.n_t + 1 && diff.size(0) == d.n_t, "x or diff: wrong length");
  TORCH_CHECK(r.numel() == 0 || r.size(0) == d.n_t, "r has the wrong length");
  TORCH_CHECK(d.m1 == d.m + (sh ? 1 : 0), "zs has the wrong width");
  TORCH_CHECK(W1.size(1) == d.m && W1.size(2) == d.l, "W1 has the wrong shape");
  const float *px = x.data_ptr<float>(), *pa = A.data_ptr<float>(), *pw1 = W1.data_ptr<float>(),
              *ph1 = h1.data_ptr<float>(), *pal = alpha.data_ptr<float>();
  const float* pw2 = sh ? W2->data_ptr<float>() : nullptr;
  const float* ph2 = sh ? h2->data_ptr<float>() : nullptr;
  float *pz = zs.data_ptr<float>(), *pd = diff.data_ptr<float>();
  float* pr = r.numel() ? r.data_ptr<float>() : nullptr;
  const int64_t* pt = check_taus(taus, d.e);
  const int bc = lanes_for(d.e, d.b);
  over_chunks(d.e, d.b, bc, [&](int64_t e, int64_t b0, int nb) {
    if (bc == 2 * VL)
      forward_chunk<2>(d, e, b0, nb, px, pz, pr, pd, pa, pw1, pw2, ph1, ph2, pal, pt);
    else
      forward_chunk<1>(d, e, b0, nb, px, pz, pr, pd, pa, pw1, pw2, ph1, ph2, pal, pt);
  });
}

// g_pred (T, E, B, N), r (T, E, B, L) from pl_forward; writes delta (T+1, E, B, M) and
// u (T, E, B, L). W1t = W1^T (E, L, M); W2t = W2^T (E, M, L), undefined for the PLRNN.
void pl_backward(const at::Tensor& g_pred, const at::Tensor& r, const at::Tensor& delta,
                 const at::Tensor& u, const at::Tensor& A, const at::Tensor& W1t,
                 const c10::optional<at::Tensor>& W2t, const at::Tensor& alpha,
                 const at::Tensor& taus) {
  const bool sh = W2t.has_value() && W2t->defined();
  for (auto* p : {&g_pred, &r, &delta, &u, &A, &W1t, &alpha}) check(*p, "pl_backward argument");
  if (sh) check(*W2t, "W2t");
  // (the PLRNN and shPLRNN only: the clipped model trains through pl_train)
  Dims d{r.size(0), r.size(1), r.size(2), g_pred.size(3), A.size(1), A.size(1), r.size(3), sh,
         false, 0, nullptr, nullptr};
  TORCH_CHECK(delta.size(0) == d.n_t + 1 && delta.size(3) == d.m, "delta has the wrong shape");
  const float *pg = g_pred.data_ptr<float>(), *pr = r.data_ptr<float>(),
              *pa = A.data_ptr<float>(), *pw1 = W1t.data_ptr<float>(),
              *pal = alpha.data_ptr<float>();
  const float* pw2 = sh ? W2t->data_ptr<float>() : nullptr;
  float *pd = delta.data_ptr<float>(), *pu = u.data_ptr<float>();
  const int64_t* pt = check_taus(taus, d.e);
  const int bc = lanes_for(d.e, d.b);
  over_chunks(d.e, d.b, bc, [&](int64_t e, int64_t b0, int nb) {
    if (bc == 2 * VL)
      backward_chunk<2>(d, e, b0, nb, pg, pr, pd, pu, pa, pw1, pw2, pal, pt);
    else
      backward_chunk<1>(d, e, b0, nb, pg, pr, pd, pu, pa, pw1, pw2, pal, pt);
  });
}

// sum over the chunk axis of (E, C, ...) partials, in a fixed order (deterministic)
at::Tensor sum_chunks(const at::Tensor& part) {
  const int64_t e = part.size(0), c = part.size(1), n = e ? part.numel() / (e * c) : 0;
  std::vector<int64_t> shape{part.sizes().begin(), part.sizes().end()};
  shape.erase(shape.begin() + 1);
  at::Tensor out = at::zeros(shape, part.options());
  const float* p = part.data_ptr<float>();
  float* o = out.data_ptr<float>();
  for (int64_t i = 0; i < e; ++i)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t k = 0; k < n; ++k) o[i * n + k] += p[(i * c + j) * n + k];
  return out;
}

// Loss and gradients of a forced rollout of windows x (T+1, E, B, N), or, with starts (E, B)
// (int64), of the windows x[starts[e, b] : starts[e, b] + T + 1] of a series x (time, N), read
// in place (no copy of the windows); chunks of K = pl_lanes(E, B) windows (16 lanes for the
// shPLRNN with M <= 8); member e forced every taus[e] steps (0: never) with alpha[e]. scale (E,): the factor on each member's sum of squared errors in the
// loss whose gradient is taken. Returns each member's sum of squared errors (E,) and the
// gradients of sum_e scale_e * SSE_e with respect to A (E, M), h1 (E, M), W1 (E, M, L),
// W2 (E, L, M), h2 (E, L) (empty for the PLRNN) and the initial map (E, M - N, N).
std::vector<at::Tensor> pl_train(const at::Tensor& x, const at::Tensor& init_map,
                                 const at::Tensor& A, const at::Tensor& W1,
                                 const c10::optional<at::Tensor>& W2, const at::Tensor& h1,
                                 const c10::optional<at::Tensor>& h2, const at::Tensor& alpha,
                                 const at::Tensor& scale, const at::Tensor& taus, bool clip,
                                 const c10::optional<at::Tensor>& bw,
                                 const c10::optional<at::Tensor>& th,
                                 const c10::optional<at::Tensor>& starts, int64_t n_steps) {
  const std::pair<bool, bool> variant = model_variant(W2, clip, bw, th);
  const bool sh = variant.first, dend = variant.second;
  for (auto* p : {&x, &init_map, &A, &W1, &h1, &alpha, &scale}) check(*p, "pl_train argument");
  if (sh) {
    check(*W2, "W2");
    check(*h2, "h2");
  }
  const bool by_start = starts.has_value() && starts->defined();
  const int64_t* pst = nullptr;
  int64_t E, B, n_t, n_obs;
  if (by_start) {
    TORCH_CHECK(starts->device().is_cpu() && starts->scalar_type() == at::kLong &&
                    starts->is_contiguous() && starts->dim() == 2,
                "starts must be a contiguous int64 CPU tensor (E, B)");
    TORCH_CHECK(x.dim() == 2, "with starts, x is the series (time, N)");
    E = starts->size(0), B = starts->size(1), n_t = n_steps, n_obs = x.size(1);
    TORCH_CHECK(n_t >= 1, "n_steps must be positive");
    pst = starts->data_ptr<int64_t>();
    for (int64_t i = 0; i < E * B; ++i)
      TORCH_CHECK(pst[i] >= 0 && pst[i] + n_t < x.size(0), "window ", i, " (start ", pst[i],
                  ", ", n_t + 1, " samples) runs outside the series of ", x.size(0));
  } else {
    TORCH_CHECK(x.dim() == 4, "x must be the windows (T+1, E, B, N)");
    E = x.size(1), B = x.size(2), n_t = x.size(0) - 1, n_obs = x.size(3);
  }
  const int64_t M = A.size(1);
  const bool fast = sh && !clip && M <= 8;  // train_chunk_sh, one vector of lanes per chunk
  // the fused kernel with one vector of lanes per chunk: two (NV = 2, 32 lanes) took the same
  // time per 16-member pass (1.74 against 1.77 ms, pipeline sizes, 1 thread, CPU time)
  const int64_t K = fast ? VL : lanes_for(E, B);
  const int64_t n_bases = dend ? bw->size(1) : 0;
  const int64_t C0 = (B + K - 1) / K;
  auto o = x.options();
  at::Tensor gbw = at::empty({E, C0, n_bases}, o), gth = at::empty({E, C0, n_bases, M}, o);
  TrainDims d{n_t, E, C0, B, n_obs, M, W1.size(2), sh, clip, n_bases,
              dend ? bw->data_ptr<float>() : nullptr, dend ? th->data_ptr<float>() : nullptr,
              gbw.data_ptr<float>(), gth.data_ptr<float>()};
  const int64_t* pt = check_taus(taus, E);
  TORCH_CHECK(init_map.size(1) == d.m - d.n && init_map.size(2) == d.n, "init_map: wrong shape");
  const at::Tensor W1t = W1.transpose(1, 2).contiguous();
  const at::Tensor W2t = sh && !fast ? W2->transpose(1, 2).contiguous() : at::Tensor();
  const int64_t C = d.nch, es = sh ? E : 0;
  at::Tensor loss = at::empty({E, C}, o), gA = at::empty({E, C, d.m}, o),
             gh1 = at::empty({E, C, d.m}, o), gW1 = at::empty({E, C, d.m, d.l}, o),
             gW2 = at::empty({es, C, d.l, d.m}, o), gh2 = at::empty({es, C, d.l}, o),
             gL = at::zeros({E, C, d.m - d.n, d.n}, o);
  const float* pw2 = sh ? W2->data_ptr<float>() : nullptr;
  const float* pw2t = sh && !fast ? W2t.data_ptr<float>() : nullptr;
  const float* ph2 = sh ? h2->data_ptr<float>() : nullptr;
  float* pgw2 = sh ? gW2.data_ptr<float>() : nullptr;
  float* pgh2 = sh ? gh2.data_ptr<float>() : nullptr;
  const float *px = x.data_ptr<float>(), *pinit = init_map.data_ptr<float>(),
              *pa = A.data_ptr<float>(), *pw1 = W1.data_ptr<float>(),
              *pw1t = W1t.data_ptr<float>(), *ph1 = h1.data_ptr<float>(),
              *pal = alpha.data_ptr<float>(), *psc = scale.data_ptr<float>();
  float *pl = loss.data_ptr<float>(), *pga = gA.data_ptr<float>(), *pgh1 = gh1.data_ptr<float>(),
        *pgw1 = gW1.data_ptr<float>(), *pgl = gL.data_ptr<float>();
  for_each_item(E * C, [&](int64_t i) {
    const int64_t e = i / C, ch = i % C;
    const int nb = (int)std::min<int64_t>(K, B - ch * K);
    if (fast) {
      auto run = [&](auto tag) {
        constexpr int MS = decltype(tag)::value;
        train_chunk_sh<1, MS>(d, e, ch, nb, px, pst, pinit, pa, pw1t, pw2, ph1, ph2, pal, pt,
                              psc, pl, pga, pgh1, pgw1, pgw2, pgh2, pgl);
      };
      switch (M) {
        case 1: run(std::integral_constant<int, 1>{}); break;
        case 2: run(std::integral_constant<int, 2>{}); break;
        case 3: run(std::integral_constant<int, 3>{}); break;
        case 4: run(std::integral_constant<int, 4>{}); break;
        case 5: run(std::integral_constant<int, 5>{}); break;
        case 6: run(std::integral_constant<int, 6>{}); break;
        case 7: run(std::integral_constant<int, 7>{}); break;
        default: run(std::integral_constant<int, 8>{}); break;
      }
      return;  // (the next item)
    }
    auto run = [&](auto tag) {
      constexpr int NV = decltype(tag)::value;
      train_chunk<NV>(d, e, ch, nb, px, pst, pinit, pa, pw1, pw1t, pw2, pw2t, ph1, ph2, pal,
                      pt, psc, pl, pga, pgh1, pgw1, pgw2, pgh2, pgl);
    };
    if (K == 2 * VL)
      run(std::integral_constant<int, 2>{});
    else
      run(std::integral_constant<int, 1>{});
  });
  return {sum_chunks(loss), sum_chunks(gA), sum_chunks(gh1), sum_chunks(gW1),
          sum_chunks(gW2), sum_chunks(gh2), sum_chunks(gL), sum_chunks(gbw), sum_chunks(gth)};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &pl_forward, "forced forward time loop of the PL family");
  m.def("backward", &pl_backward, "adjoint time loop of the PL family");
  m.def("train", &pl_train, "loss and gradients of a forced rollout, one call per window");
}
