#!/usr/bin/env bash
# One command per figure/table of Singh & Plumbley (Interspeech 2022), on the real TAU 2020 Mobile set with the
# paper's recipe. Each command reuses what earlier ones built (dataset, features, baseline, pruned models), so
# running them in order costs little more than the slowest. Add `hydra/launcher=slurm` with `-m` to spread jobs.
set -euo pipefail

asc experiment=paper_table1   # Table 1 + Fig. 2 (closest-pair distances) + Fig. 4 (C2 l1 norms): no fine-tuning
asc experiment=paper_fig3     # Fig. 3: cosine on 7 layer sets, with/without fine-tuning (5 repeats)
asc experiment=paper_fig5     # Fig. 5: cosine vs l1 after fine-tuning across layer sets
asc experiment=paper_fig6     # Fig. 6: accuracy and fine-tuning time vs training-data fraction
# Or everything above plus the criteria beyond the paper (l2, nystrom, centrality, fpgm) in one job:
# asc experiment=paper
# Results: outputs/results/{results.csv, table1.*, criteria.*, summary.*, fig2..fig6 .png/.pdf}
