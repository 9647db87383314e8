/* libFuzzer: the RFC 4180 CSV reader. A parse that succeeds is walked cell by cell. */
#include <string.h>

#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    tg_csv csv;
    if (tg_csv_parse((const char *)data, size, "fuzz.csv", &csv) != TG_OK) return 0;
    volatile size_t sink = 0;
    for (size_t c = 0; c < csv.n_cols; c++) sink += strlen(csv.header[c]);
    for (size_t r = 0; r < csv.n_rows; r++) {
        sink += (size_t)csv.lines[r];
        for (size_t c = 0; c < csv.n_cols; c++) sink += strlen(tg_csv_cell(&csv, r, c));
    }
    if (csv.n_cols) sink += (size_t)tg_csv_column(&csv, csv.header[csv.n_cols - 1]);
    tg_csv_free(&csv);
    (void)sink;
    return 0;
}
