/*
 * svgplot.h - a very small SVG plotting helper for the bsnn examples: one
 * file holds one or more panels side by side; each panel has linear or log
 * axes with ticks, lines, bands, points, colour cells and a legend. No
 * dependencies beyond stdio and libm. Header-only (static functions) so each
 * example program can include it.
 */
#ifndef BSNN_SVGPLOT_H
#define BSNN_SVGPLOT_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const svg_palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                          "#9467bd", "#8c564b", "#e377c2", "#17becf"};

typedef struct svg_file {
    FILE *f;
    double width, height;
} svg_file;

typedef struct svg_panel {
    svg_file *svg;
    double left, top, w, h;      /* plotting area in pixels */
    double x0, x1, y0, y1;       /* data range              */
    int logx, logy;
    int legend_rows;
} svg_panel;

static inline int svg_open(svg_file *s, const char *path, double width, double height, const char *title)
{
    s->f = fopen(path, "w");
    if (s->f == NULL) return -1;
    s->width = width;
    s->height = height;
    fprintf(s->f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"11\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%.0f\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">%s</text>\n",
            width, height, width, height, width / 2, title);
    return 0;
}

static inline void svg_close(svg_file *s)
{
    if (s->f == NULL) return;
    fputs("</svg>\n", s->f);
    fclose(s->f);
    s->f = NULL;
}

static inline double svg_tx(const svg_panel *p, double x)
{
    double a = p->logx ? log10(x) : x, lo = p->logx ? log10(p->x0) : p->x0,
           hi = p->logx ? log10(p->x1) : p->x1;
    return p->left + (a - lo) / (hi - lo) * p->w;
}

static inline double svg_ty(const svg_panel *p, double y)
{
    if (p->logy && y < p->y0) y = p->y0;
    double a = p->logy ? log10(y) : y, lo = p->logy ? log10(p->y0) : p->y0,
           hi = p->logy ? log10(p->y1) : p->y1;
    double t = p->top + p->h - (a - lo) / (hi - lo) * p->h;
    return t < p->top - 5 ? p->top - 5 : t > p->top + p->h + 5 ? p->top + p->h + 5 : t;
}

/* Tick values for [lo, hi]: powers of ten on a log axis, else ~5 round steps. */
static inline int svg_ticks(double *out, int max, double lo, double hi, int logscale)
{
    int n = 0;
    if (logscale) {
        for (double e = floor(log10(lo)); e <= ceil(log10(hi)) && n < max; e++) {
            double v = pow(10.0, e);
            if (v >= lo * 0.999 && v <= hi * 1.001) out[n++] = v;
        }
        return n;
    }
    double raw = (hi - lo) / 5, mag = pow(10.0, floor(log10(raw))), step = mag;
    if (raw / mag > 5) step = 10 * mag;
    else if (raw / mag > 2) step = 5 * mag;
    else if (raw / mag > 1) step = 2 * mag;
    for (double v = ceil(lo / step) * step; v <= hi + step * 1e-9 && n < max; v += step)
        out[n++] = fabs(v) < step * 1e-9 ? 0.0 : v;
    return n;
}

/* A panel at pixel box (left, top, w, h) with axes, ticks and labels. */
static inline void svg_panel_begin(svg_panel *p, svg_file *s, double left, double top, double w, double h,
                            double x0, double x1, double y0, double y1, int logx, int logy,
                            const char *title, const char *xlabel, const char *ylabel)
{
    *p = (svg_panel){s, left, top, w, h, x0, x1, y0, y1, logx, logy, 0};
    FILE *f = s->f;
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#444\"/>\n", left, top, w, h);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">%s</text>\n",
            left + w / 2, top - 6, title);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", left + w / 2,
            top + h + 30, xlabel);
    fprintf(f, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\">%s"
               "</text>\n", left - 42, top + h / 2, ylabel);
    double t[32];
    int n = svg_ticks(t, 32, x0, x1, logx);
    for (int i = 0; i < n; i++) {
        double x = svg_tx(p, t[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                x, top, x, top + h, x, top + h + 14, t[i]);
    }
    n = svg_ticks(t, 32, y0, y1, logy);
    for (int i = 0; i < n; i++) {
        double y = svg_ty(p, t[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                left, y, left + w, y, left - 4, y + 4, t[i]);
    }
}

/* A polyline through n points; points outside a log axis are skipped.
 * At most ~400 vertices are written (even thinning) to keep files small. */
static inline void svg_line(const svg_panel *p, const double *x, const double *y, size_t n,
                     const char *color, double width, int dashed)
{
    if (n == 0) return;
    size_t stride = n > 400 ? n / 400 : 1;
    fprintf(p->svg->f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"%s points=\"",
            color, width, dashed ? " stroke-dasharray=\"5,3\"" : "");
    for (size_t i = 0; i < n; i += stride) {
        size_t k = i + stride >= n ? n - 1 : i;
        if ((p->logx && x[k] <= 0) || !isfinite(y[k])) continue;
        fprintf(p->svg->f, "%.1f,%.1f ", svg_tx(p, x[k]), svg_ty(p, y[k]));
        if (k == n - 1) break;
    }
    fputs("\"/>\n", p->svg->f);
}

/* A shaded band between lo[i] and hi[i]. */
static inline void svg_band(const svg_panel *p, const double *x, const double *lo, const double *hi,
                     size_t n, const char *color)
{
    if (n == 0) return;
    size_t stride = n > 300 ? n / 300 : 1;
    fprintf(p->svg->f, "<polygon fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" points=\"",
            color);
    for (size_t i = 0; i < n; i += stride)
        if (!p->logx || x[i] > 0) fprintf(p->svg->f, "%.1f,%.1f ", svg_tx(p, x[i]), svg_ty(p, hi[i]));
    for (size_t i = n; i-- > 0;)
        if ((i % stride == 0) && (!p->logx || x[i] > 0))
            fprintf(p->svg->f, "%.1f,%.1f ", svg_tx(p, x[i]), svg_ty(p, lo[i]));
    fputs("\"/>\n", p->svg->f);
}

/* Dots of radius r; hollow ones get a white fill. */
static inline void svg_points(const svg_panel *p, const double *x, const double *y, size_t n,
                       const char *color, double r, int hollow)
{
    for (size_t i = 0; i < n; i++)
        fprintf(p->svg->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"%s\"/>\n",
                svg_tx(p, x[i]), svg_ty(p, y[i]), r, hollow ? "white" : color,
                hollow ? color : "white");
}

/* A filled rectangle between data corners (x0,y0) and (x1,y1). */
static inline void svg_cell(const svg_panel *p, double x0, double y0, double x1, double y1,
                     const char *color)
{
    double a = svg_tx(p, x0), b = svg_tx(p, x1), c = svg_ty(p, y1), d = svg_ty(p, y0);
    fprintf(p->svg->f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
            a, c, b - a + 0.4, d - c + 0.4, color);
}

/* The next legend entry in the panel's top-right corner. */
static inline void svg_legend(svg_panel *p, const char *label, const char *color, int dashed)
{
    double y = p->top + 14 + 14 * p->legend_rows++, x = p->left + p->w - 175;
    fprintf(p->svg->f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
               "stroke-width=\"2\"%s/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
            x, y - 4, x + 20, y - 4, color, dashed ? " stroke-dasharray=\"5,3\"" : "", x + 24,
            y, label);
}

/* Free text at data coordinates. */
static inline void svg_text(const svg_panel *p, double x, double y, const char *text)
{
    fprintf(p->svg->f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", svg_tx(p, x), svg_ty(p, y), text);
}

#endif
