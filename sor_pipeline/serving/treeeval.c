/* Flattened XGBoost tree-ensemble evaluator for the live router (sor_pipeline/serving/compiled.py).
 *
 * Every tree is padded to a complete binary tree of its model's depth D (a leaf above depth D is
 * copied into all its descendants), stored as arrays in breadth-first order: internal node i has
 * children 2i+1 / 2i+2, so a traversal is D branch-free steps with no pointer chasing, and 8 trees
 * are walked in lock-step to overlap their memory loads. Arithmetic is XGBoost's CPU predictor's:
 * features rounded to float32, go right iff x >= threshold (NaN: the default direction), float32
 * accumulation from the base margin in tree order, sigmoid with exp in double.
 * Per order it then computes, per venue, the expected cost (bps, + = cost)
 *   cost = p * slippage + (1 - p) * fallback + penalty,   fallback = min LIT slippage (min over all if no
 *   LIT), penalty = the venue's intraday guard charge (bps, 0 unless charged)
 * and ranks venues by cost (ascending, ties by venue index). No allocation, no Python API.
 */
#include <math.h>
#include <stdint.h>

#ifndef LANES
#define LANES 8   /* trees walked in lock-step for one order */
#endif
#ifndef ROWS
#define ROWS 16   /* orders walked in lock-step per tree in a batch */
#endif
#define MAXVF 2048 /* venues x features */

/* Internal node: go right iff xx[f] >= thr, where xx = [x with NaN -> -inf | x with NaN -> +inf], so
 * f = feature (missing goes left) or n_feat + feature (missing goes right): one load, one compare. */
typedef struct { float thr; int32_t f; } Node;

typedef struct {
    int32_t n_venues, n_feat;
    const Node *nodes;         /* internal nodes */
    const float *leaf;         /* leaves */
    const int64_t *int_off, *leaf_off; /* per model: offset of its first tree */
    const int32_t *depth, *n_trees, *transform;
    const float *base;         /* per model: base margin */
    const int32_t *fill_idx, *slip_idx; /* per venue: model index, -1 = constant */
    const double *fill_const, *slip_const;
    const uint8_t *is_lit;
    const double *penalty;     /* per venue: bps added to the expected cost (the intraday guard) */
} Model;

static inline float sigmoid_xgb(float x) {
    float z = -x < 88.7f ? -x : 88.7f;
    float denom = (float)exp((double)z) + 1.0f + 1e-16f;
    return 1.0f / denom;
}


/* Store feature i of value v into a venue's [NaN -> -inf | NaN -> +inf] pair of float32 vectors. */
static inline void put(float *x, int32_t F, int32_t i, double v) {
    float f = (float)v;
    x[i] = (v != v) ? -INFINITY : f;
    x[F + i] = (v != v) ? INFINITY : f;
}

/* Evaluate model m on rb rows (row r's float features at x + r * xstride); out[r] = prediction. Rows
 * are the lanes: each tree's nodes are loaded once per block and rb independent walks overlap. */
static void eval_block(const Model *M, int32_t m, const float *x, int64_t xstride, int rb, float *out) {
    const int D = M->depth[m], nt = M->n_trees[m];
    const int ni = (1 << D) - 1, nl = 1 << D;
    const Node *nd = M->nodes + M->int_off[m];
    const float *leaf = M->leaf + M->leaf_off[m];
    float acc[ROWS];
    for (int r = 0; r < rb; ++r) acc[r] = M->base[m];
    if (rb == 1) { /* one order: trees are the lanes */
        int t = 0;
        for (; t + LANES <= nt; t += LANES) {
            int idx[LANES] = {0};
            for (int d = 0; d < D; ++d)
                for (int k = 0; k < LANES; ++k) {
                    const Node *q = nd + (t + k) * ni + idx[k];
                    idx[k] = 2 * idx[k] + 1 + (x[q->f] >= q->thr);
                }
            for (int k = 0; k < LANES; ++k) acc[0] += leaf[(t + k) * nl + idx[k] - ni];
        }
        for (; t < nt; ++t) {
            int i = 0;
            for (int d = 0; d < D; ++d) {
                const Node *q = nd + t * ni + i;
                i = 2 * i + 1 + (x[q->f] >= q->thr);
            }
            acc[0] += leaf[t * nl + i - ni];
        }
    } else {
        for (int t = 0; t < nt; ++t) {
            const Node *tn = nd + t * ni;
            const float *tl = leaf + t * nl - ni;
            int idx[ROWS];
            for (int r = 0; r < rb; ++r) idx[r] = 0;
            for (int d = 0; d < D; ++d)
                for (int r = 0; r < rb; ++r) {
                    const Node *q = tn + idx[r];
                    idx[r] = 2 * idx[r] + 1 + (x[r * xstride + q->f] >= q->thr);
                }
            for (int r = 0; r < rb; ++r) acc[r] += tl[idx[r]];
        }
    }
    for (int r = 0; r < rb; ++r) out[r] = M->transform[m] == 1 ? sigmoid_xgb(acc[r]) : acc[r];
}

/* Score a block of rb rows; xb holds, per row, V venues x [2F] float features (row stride V*2F).
 * Writes p, s, cost (venue order), the rank order and fb per row; bad[r] = 1 on a non-finite score. */
static int64_t score_block(const Model *M, const float *xb, int rb, double *p, double *s, double *cost,
                           double *fb, int32_t *order, uint8_t *bad) {
    const int32_t V = M->n_venues, F2 = 2 * M->n_feat;
    float pf[ROWS], sf[ROWS];
    for (int32_t v = 0; v < V; ++v) {
        const float *xv = xb + v * F2;
        if (M->fill_idx[v] >= 0) eval_block(M, M->fill_idx[v], xv, (int64_t)V * F2, rb, pf);
        if (M->slip_idx[v] >= 0) eval_block(M, M->slip_idx[v], xv, (int64_t)V * F2, rb, sf);
        for (int r = 0; r < rb; ++r) {
            double pv = M->fill_idx[v] >= 0 ? (double)pf[r] : M->fill_const[v];
            p[r * V + v] = pv < 0.0 ? 0.0 : (pv > 1.0 ? 1.0 : pv);
            s[r * V + v] = M->slip_idx[v] >= 0 ? (double)sf[r] : M->slip_const[v];
        }
    }
    int64_t n_bad = 0;
    for (int r = 0; r < rb; ++r) {
        double *pr = p + r * V, *sr = s + r * V, *cr = cost + r * V;
        int32_t *orr = order + r * V;
        double lit_min = INFINITY, any_min = INFINITY;
        int finite = 1;
        for (int32_t v = 0; v < V; ++v) {
            if (!isfinite(pr[v]) || !isfinite(sr[v])) finite = 0;
            if (sr[v] < any_min) any_min = sr[v];
            if (M->is_lit[v] && sr[v] < lit_min) lit_min = sr[v];
        }
        double f0 = isfinite(lit_min) ? lit_min : any_min;
        fb[r] = f0;
        for (int32_t v = 0; v < V; ++v) {
            cr[v] = pr[v] * sr[v] + (1.0 - pr[v]) * f0 + M->penalty[v];
            if (!isfinite(cr[v])) finite = 0;
            int32_t k = v; /* insertion sort by cost, ties keep venue order */
            while (k > 0 && cr[orr[k - 1]] > cr[v]) { orr[k] = orr[k - 1]; --k; }
            orr[k] = v;
        }
        bad[r] = (uint8_t)!finite;
        n_bad += !finite;
    }
    return n_bad;
}

/* X: n_rows x n_venues x n_feat doubles. Outputs per row: p, s, cost, order (n_venues each), fb, bad.
 * Returns the number of rows with a non-finite score (bad[r] = 1), -1 if too many venues x features. */
int64_t sor_score(const Model *M, int64_t n_rows, const double *X, double *p, double *s, double *cost,
                  double *fb, int32_t *order, uint8_t *bad) {
    const int32_t V = M->n_venues, F = M->n_feat;
    static __thread float xb[ROWS * MAXVF * 2];
    int64_t n_bad = 0;
    if (V * F > MAXVF) return -1;
    for (int64_t r0 = 0; r0 < n_rows; r0 += ROWS) {
        int rb = (int)(n_rows - r0 < ROWS ? n_rows - r0 : ROWS);
        for (int r = 0; r < rb; ++r)
            for (int32_t v = 0; v < V; ++v)
                for (int32_t i = 0; i < F; ++i) put(xb + (r * V + v) * 2 * F, F, i, X[((r0 + r) * V + v) * F + i]);
        n_bad += score_block(M, xb, rb, p + r0 * V, s + r0 * V, cost + r0 * V, fb + r0, order + r0 * V, bad + r0);
    }
    return n_bad;
}

/* ---------------------------------------------------------------------------------------------- */
/* The order path: features given as order-level values (n_order per row) + venue statistics (V x
 * n_vs per row, or shared with vs_stride 0), then scores, ranking and the dynamic waterfall
 * (see allocation.py, which is the same algorithm in Python). */
typedef struct {
    int32_t n_order, n_vs, max_venues;
    double max_adv_share, lot;
    int32_t use_displayed;
    const double *of;   int64_t of_stride;   /* per row: n_order features, then qty (shares), adv (shares/day) */
    const double *vs;   int64_t vs_stride;   /* per row: V x n_vs venue statistics */
    const double *disp; int64_t disp_stride; /* per row: V displayed far-side shares, NaN = not displayed */
    double *ranked;     /* per row: 3 x V: p, s, cost in rank order */
    double *p, *s, *cost, *fb;
    int32_t *order;     /* per row: V venue indices, cheapest first */
    uint8_t *bad;
    int32_t *leg_rank;  /* per row: V rank positions (0 = cheapest) of the legs in routing order, -1 after */
    double *leg_qty;    /* per row: V leg sizes, shares */
    int32_t *leg_kind;  /* per row: V, 1 split, 2 remainder, 3 split + remainder */
} Job;

static void allocate_row(const Model *M, const Job *J, int64_t r) {
    const int32_t V = M->n_venues;
    const int32_t *orr = J->order + r * V;
    const double *pr = J->p + r * V;
    const double *row = J->of + r * J->of_stride;
    const double qty = row[J->n_order], adv = row[J->n_order + 1];
    const double *disp = J->disp + r * J->disp_stride;
    int32_t *lv = J->leg_rank + r * V;
    double *lq = J->leg_qty + r * V;
    int32_t *lk = J->leg_kind + r * V;
    double cap[64], f[64], legs[64];
    int kind[64];
    const double adv_cap = (adv > 0.0) ? J->max_adv_share * adv : INFINITY;
    double total = 0.0;
    int k = 0;
    for (int i = 0; i < V; ++i) { legs[i] = 0.0; kind[i] = 0; }
    while (k < V && k < J->max_venues && total < qty) {
        double c = adv_cap, d = disp[orr[k]];
        if (J->use_displayed && d == d && d < c) c = d;
        c = isinf(c) ? qty : (c > 0.0 ? c : 0.0);
        cap[k] = c;
        double pk = pr[orr[k]];
        f[k] = (pk > 0.0 ? pk : 0.0) * c;
        total += f[k];
        ++k;
    }
    double used = 0.0;
    if (total > 0.0) {
        for (int i = 0; i < k; ++i) {
            double share = qty * f[i] / total;
            if (cap[i] < share) share = cap[i];
            double q = floor(share / J->lot) * J->lot;
            if (q > 0.0) { legs[i] = q; kind[i] = 1; used += q; }
        }
    }
    double rest = qty - used;
    if (rest > 0.0) {
        int lit = V - 1;
        for (int i = 0; i < V; ++i) if (M->is_lit[orr[i]]) { lit = i; break; }
        legs[lit] += rest;
        kind[lit] |= 2;
    }
    int n = 0;
    for (int i = 0; i < V; ++i)
        if (legs[i] > 0.0) { lv[n] = i; lq[n] = legs[i]; lk[n] = kind[i]; ++n; }
    for (; n < V; ++n) { lv[n] = -1; lq[n] = 0.0; lk[n] = 0; }
}

int64_t sor_route(const Model *M, const Job *J, int64_t n_rows) {
    const int32_t V = M->n_venues, F = M->n_feat, NO = J->n_order, NV = J->n_vs;
    static __thread float xb[ROWS * MAXVF * 2];
    int64_t n_bad = 0;
    if (V > 64 || V * F > MAXVF || NO + NV != F) return -1;
    for (int64_t r0 = 0; r0 < n_rows; r0 += ROWS) {
        int rb = (int)(n_rows - r0 < ROWS ? n_rows - r0 : ROWS);
        for (int r = 0; r < rb; ++r) {
            const double *o = J->of + (r0 + r) * J->of_stride;
            const double *vs = J->vs + (r0 + r) * J->vs_stride;
            float *row = xb + (int64_t)r * V * 2 * F;
            for (int32_t i = 0; i < NO; ++i) put(row, F, i, o[i]);
            for (int32_t v = 0; v < V; ++v) {
                float *x = row + v * 2 * F;
                if (v) for (int32_t i = 0; i < NO; ++i) { x[i] = row[i]; x[F + i] = row[F + i]; }
                for (int32_t i = 0; i < NV; ++i) put(x, F, NO + i, vs[v * NV + i]);
            }
        }
        n_bad += score_block(M, xb, rb, J->p + r0 * V, J->s + r0 * V, J->cost + r0 * V, J->fb + r0,
                             J->order + r0 * V, J->bad + r0);
        for (int r = 0; r < rb; ++r) {
            const int64_t R = r0 + r;
            if (J->bad[R]) continue;
            const int32_t *orr = J->order + R * V;
            double *rk = J->ranked + R * 3 * V;
            for (int32_t i = 0; i < V; ++i) {
                rk[i] = J->p[R * V + orr[i]];
                rk[V + i] = J->s[R * V + orr[i]];
                rk[2 * V + i] = J->cost[R * V + orr[i]];
            }
            allocate_row(M, J, R);
        }
    }
    return n_bad;
}

/* Re-allocate rows ``rows[0..n)`` of a job whose ``order`` rows were permuted after ``sor_route``
 * (the exploration puts its drawn venue first): the same dynamic waterfall on the new order. */
int64_t sor_allocate(const Model *M, const Job *J, const int64_t *rows, int64_t n) {
    if (M->n_venues > 64) return -1;
    for (int64_t i = 0; i < n; ++i) allocate_row(M, J, rows[i]);
    return n;
}
