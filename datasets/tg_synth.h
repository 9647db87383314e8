/* Synthetic chest X-rays: a seeded generator of a dataset laid out like the
 * public COVID-19 collections (metadata.csv + images/<patientid>.png), with lung
 * fields, ribs, heart, clavicles and noise; positives add diffuse ground-glass-
 * like opacities. It is the offline default data for the demo and the tests. */
#ifndef TG_SYNTH_H
#define TG_SYNTH_H

#include "autograd/tg_error.h"
#include "autograd/tg_rng.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef struct tg_synth_opts {
    int n_positive, n_negative; /* images per class (default 280 / 70, as the seed paper) */
    int n_unlabeled;            /* extra images with an empty finding (default 0) */
    int width, height;          /* image size (default 256x256) */
    float difficulty;           /* 0 = obvious opacities, 1 = faint and noisy (default 0.5) */
    int max_per_patient;        /* 1..26 images per patient; >1 exercises grouping (default 1) */
} tg_synth_opts;

/* The defaults listed above. */
tg_synth_opts tg_synth_opts_default(void);
/* Render one image (h,w) of a fresh random patient into out, values in [0,1]. */
tg_status tg_synth_render(float *out, int width, int height, int positive, float difficulty,
                          tg_rng *rng);
/* Write dir/metadata.csv and one PNG per image under dir/images (creating the folders),
 * replacing a set written there before (its SYN-*.png images are removed first).
 * CSV columns: patientid (image stem), patient (group), sex, age, finding
 * ("COVID-19", "No finding" or empty), view, modality, filename, notes. */
tg_status tg_synth_write(const char *dir, const tg_synth_opts *opts, tg_rng *rng);

TG_API_END

#endif
