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
    int legend_corner;           /* svg_legend's corner: SVG_TOP_RIGHT ... */
    int clip;                    /* id of the clip path of the plotting area */
} svg_panel;

/* Axis scales of svg_panel_begin_ex: linear, log with ticks at powers of
 * ten, log with ticks at 1, 2 and 5 times powers of ten, log with ticks at
 * every power of two (every other one when there would be more than 13). */
enum { SVG_LIN = 0, SVG_LOG10 = 1, SVG_LOG125 = 2, SVG_LOG2 = 3 };
/* Legend corners (svg_panel.legend_corner). */
enum { SVG_TOP_RIGHT = 0, SVG_TOP_LEFT = 1, SVG_BOTTOM_RIGHT = 2, SVG_BOTTOM_LEFT = 3,
       SVG_BELOW = 4 /* outside the plotting area, under the axis label, two columns */ };
/* Marker shapes of svg_marker. */
enum { SVG_CIRCLE = 0, SVG_SQUARE = 1, SVG_DIAMOND = 2, SVG_TRIANGLE = 3 };

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

/* Ticks of a log axis at 1, 2, 5 x 10^k (SVG_LOG125) or at powers of two
 * (SVG_LOG2) within [lo, hi]. */
static inline int svg_ticks_log(double *out, int max, double lo, double hi, int scale, double px)
{
    int n = 0;
    if (scale == SVG_LOG2) {
        int stride = (int)floor(log2(hi / lo)) + 1 > 13 ? 2 : 1;
        for (double e = ceil(log2(lo * 0.999)); e <= log2(hi * 1.001) && n < max; e += stride)
            out[n++] = pow(2.0, e);
        return n;
    }
    /* 1, 2, 5 per decade while labels get about 40 pixels each, else 1 and
     * 3, else powers of ten alone */
    static const double m125[3] = {1, 2, 5}, m13[2] = {1, 3};
    double decades = log10(hi / lo);
    int per = 3.0 * decades * 40.0 <= px ? 3 : 2.0 * decades * 40.0 <= px ? 2 : 1;
    const double *m = per == 3 ? m125 : m13;
    for (double e = floor(log10(lo)); e <= ceil(log10(hi)); e++)
        for (int k = 0; k < per && n < max; k++) {
            double v = m[k] * pow(10.0, e);
            if (v >= lo * 0.999 && v <= hi * 1.001) out[n++] = v;
        }
    return n;
}

static inline void svg_panel_axes(svg_panel *p, int xscale, int yscale, const char *title,
                                  const char *xlabel, const char *ylabel);

/* A tick label: %g, with k and M for thousands and millions (20k, 2M). */
static inline const char *svg_tick_text(char *buf, size_t cap, double v)
{
    double a = fabs(v);
    if (a >= 1e6 && fmod(a, 1e5) == 0) snprintf(buf, cap, "%gM", v / 1e6);
    else if (a >= 1e4 && fmod(a, 100) == 0) snprintf(buf, cap, "%gk", v / 1e3);
    else snprintf(buf, cap, "%g", v);
    return buf;
}

/* A panel at pixel box (left, top, w, h) with axes, ticks and labels. */
static inline void svg_panel_begin(svg_panel *p, svg_file *s, double left, double top, double w, double h,
                            double x0, double x1, double y0, double y1, int logx, int logy,
                            const char *title, const char *xlabel, const char *ylabel)
{
    *p = (svg_panel){s, left, top, w, h, x0, x1, y0, y1, logx, logy, 0, SVG_TOP_RIGHT, 0};
    svg_panel_axes(p, logx ? SVG_LOG10 : SVG_LIN, logy ? SVG_LOG10 : SVG_LIN, title, xlabel, ylabel);
}

/* The same with a scale per axis (SVG_LIN, SVG_LOG10, SVG_LOG125, SVG_LOG2). */
static inline void svg_panel_begin_ex(svg_panel *p, svg_file *s, double left, double top, double w,
                                      double h, double x0, double x1, double y0, double y1,
                                      int xscale, int yscale, const char *title, const char *xlabel,
                                      const char *ylabel)
{
    *p = (svg_panel){s, left, top, w, h, x0, x1, y0, y1, xscale != SVG_LIN, yscale != SVG_LIN, 0,
                     SVG_TOP_RIGHT, 0};
    svg_panel_axes(p, xscale, yscale, title, xlabel, ylabel);
}

static inline void svg_panel_axes(svg_panel *p, int xscale, int yscale, const char *title,
                                  const char *xlabel, const char *ylabel)
{
    svg_file *s = p->svg;
    double left = p->left, top = p->top, w = p->w, h = p->h;
    double x0 = p->x0, x1 = p->x1, y0 = p->y0, y1 = p->y1;
    FILE *f = s->f;
    static int clips;
    p->clip = ++clips;
    fprintf(f, "<defs><clipPath id=\"c%d\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
               "height=\"%.1f\"/></clipPath></defs>\n", p->clip, left, top, w, h);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#444\"/>\n", left, top, w, h);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">%s</text>\n",
            left + w / 2, top - 6, title);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", left + w / 2,
            top + h + 30, xlabel);
    fprintf(f, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\">%s"
               "</text>\n", left - 42, top + h / 2, ylabel);
    double t[32];
    int n = xscale >= SVG_LOG125 ? svg_ticks_log(t, 32, x0, x1, xscale, w)
                                 : svg_ticks(t, 32, x0, x1, xscale == SVG_LOG10);
    for (int i = 0; i < n; i++) {
        double x = svg_tx(p, t[i]);
        char tb[32];
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                x, top, x, top + h, x, top + h + 14, svg_tick_text(tb, sizeof tb, t[i]));
    }
    n = yscale >= SVG_LOG125 ? svg_ticks_log(t, 32, y0, y1, yscale, 1.6 * h)
                             : svg_ticks(t, 32, y0, y1, yscale == SVG_LOG10);
    for (int i = 0; i < n; i++) {
        double y = svg_ty(p, t[i]);
        char tb[32];
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                left, y, left + w, y, left - 4, y + 4, svg_tick_text(tb, sizeof tb, t[i]));
    }
}

/* A polyline through n points; points outside a log axis are skipped.
 * At most ~400 vertices are written (even thinning) to keep files small. */
static inline void svg_line(const svg_panel *p, const double *x, const double *y, size_t n,
                     const char *color, double width, int dashed)
{
    if (n == 0) return;
    size_t stride = n > 400 ? n / 400 : 1;
    fprintf(p->svg->f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"%s "
                       "clip-path=\"url(#c%d)\" points=\"",
            color, width, dashed ? " stroke-dasharray=\"5,3\"" : "", p->clip);
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
    fprintf(p->svg->f, "<polygon fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" "
                       "clip-path=\"url(#c%d)\" points=\"",
            color, p->clip);
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

/* Where the next legend row goes: in the panel's legend corner, on a white
 * box so that the lines it covers never hide its text. */
static inline void svg_legend_slot(svg_panel *p, double *out_x, double *out_y, const char *label)
{
    if (p->legend_corner == SVG_BELOW) {
        int row = p->legend_rows++;
        *out_x = p->left + (row % 2) * p->w / 2;
        *out_y = p->top + p->h + 50 + 14 * (row / 2);
        return;
    }
    int row = p->legend_rows++, right = p->legend_corner == SVG_TOP_RIGHT ||
                                        p->legend_corner == SVG_BOTTOM_RIGHT;
    int bottom = p->legend_corner >= SVG_BOTTOM_RIGHT;
    double width = 30 + 6.2 * (double)strlen(label);
    double x = right ? p->left + p->w - width - 4 : p->left + 6;
    double y = bottom ? p->top + p->h - 8 - 14 * row : p->top + 14 + 14 * row;
    fprintf(p->svg->f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"14\" fill=\"white\" "
               "fill-opacity=\"0.85\"/>\n", x - 2, y - 11, width);
    *out_x = x;
    *out_y = y;
}

/* The next legend entry (a line sample) in the panel's legend corner. */
static inline void svg_legend(svg_panel *p, const char *label, const char *color, int dashed)
{
    double x, y;
    svg_legend_slot(p, &x, &y, label);
    fprintf(p->svg->f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
               "stroke-width=\"2\"%s/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
            x, y - 4, x + 20, y - 4, color, dashed ? " stroke-dasharray=\"5,3\"" : "", x + 24,
            y, label);
}

/* A marker of the given shape at pixel (cx, cy). */
static inline void svg_marker_px(FILE *f, double cx, double cy, const char *color, int shape, double r)
{
    switch (shape) {
    case SVG_SQUARE:
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                   "stroke=\"white\"/>\n", cx - r, cy - r, 2 * r, 2 * r, color);
        break;
    case SVG_DIAMOND:
        fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\" "
                   "stroke=\"white\"/>\n", cx, cy - 1.4 * r, cx + 1.4 * r, cy, cx, cy + 1.4 * r,
                cx - 1.4 * r, cy, color);
        break;
    case SVG_TRIANGLE:
        fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\" stroke=\"white\"/>\n",
                cx, cy - 1.3 * r, cx + 1.2 * r, cy + r, cx - 1.2 * r, cy + r, color);
        break;
    default:
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"white\"/>\n",
                cx, cy, r, color);
    }
}

/* Markers of a shape at data points. */
static inline void svg_marker(const svg_panel *p, const double *x, const double *y, size_t n,
                              const char *color, int shape, double r)
{
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            svg_marker_px(p->svg->f, svg_tx(p, x[i]), svg_ty(p, y[i]), color, shape, r);
}

/* A legend entry with a marker sample. */
static inline void svg_legend_marker(svg_panel *p, const char *label, const char *color, int shape)
{
    double x, y;
    svg_legend_slot(p, &x, &y, label);
    svg_marker_px(p->svg->f, x + 10, y - 4, color, shape, 4);
    fprintf(p->svg->f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x + 24, y, label);
}

/* Error bars: from (x[i], ylo[i]) to (x[i], yhi[i]) and from (xlo[i], y[i])
 * to (xhi[i], y[i]), with caps; NULL arrays skip that direction. */
static inline void svg_errbars(const svg_panel *p, const double *x, const double *y,
                               const double *xlo, const double *xhi, const double *ylo,
                               const double *yhi, size_t n, const char *color)
{
    FILE *f = p->svg->f;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        double cx = svg_tx(p, x[i]), cy = svg_ty(p, y[i]);
        if (ylo && yhi && isfinite(ylo[i]) && isfinite(yhi[i])) {
            double a = svg_ty(p, ylo[i]), b = svg_ty(p, yhi[i]);
            fprintf(f, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fh6M%.1f %.1fh6\" stroke=\"%s\" fill=\"none\"/>\n",
                    cx, a, b, cx - 3, a, cx - 3, b, color);
        }
        if (xlo && xhi && isfinite(xlo[i]) && isfinite(xhi[i])) {
            double a = svg_tx(p, xlo[i]), b = svg_tx(p, xhi[i]);
            fprintf(f, "<path d=\"M%.1f %.1fH%.1fM%.1f %.1fv6M%.1f %.1fv6\" stroke=\"%s\" fill=\"none\"/>\n",
                    a, cy, b, a, cy - 3, b, cy - 3, color);
        }
    }
}

/* Text at a data point, moved by (dx, dy) pixels; anchor "start", "middle" or "end". */
static inline void svg_label(const svg_panel *p, double x, double y, double dx, double dy,
                             const char *anchor, const char *text)
{
    fprintf(p->svg->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"10\">%s</text>\n",
            svg_tx(p, x) + dx, svg_ty(p, y) + dy, anchor, text);
}

/* Free text at data coordinates. */
static inline void svg_text(const svg_panel *p, double x, double y, const char *text)
{
    fprintf(p->svg->f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", svg_tx(p, x), svg_ty(p, y), text);
}

#endif
