$s0 << EOD
0.8180614389074992 91.14999999999999 "ST"
EOD
$s1 << EOD
0.7691925541103048 90.9 "λ=0.1"
0.7390208397702119 90.47 "λ=0.3"
0.6880996836217945 88.66000000000001 "λ=1"
0.6248297070272902 84.53 "λ=3"
EOD
$s2 << EOD
0.7737355586002383 91.33 "λ=0.1"
0.7415915312818939 91.27 "λ=0.3"
0.6848734435239574 88.66000000000001 "λ=1"
0.6486950629541299 86.41 "λ=3"
EOD
$s3 << EOD
0.7677362666738784 91 "λ=0.1"
0.7256562560900557 90.59 "λ=0.3"
0.6811434291414882 89.2 "λ=1"
0.6312950278663693 86.06 "λ=3"
EOD
set encoding utf8
set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05
set terminal pngcairo noenhanced size 1000,600 font 'sans,10'
set output "docs/img/lambda-grid-resnet8.png"
set title 'Accuracy vs energy ratio over λ and σ (the paper, Figure 3)'
set xlabel "energy ratio, optimised / worst case (the estimator on --ratio-samples test images, last epoch of metrics.csv)"
set ylabel 'test accuracy (%)'
set grid
set key bottom right
plot $s0 using 1:2 with points pt 7 ps 1.3 lc rgb '#4472c4' title "standard training", $s0 using 1:2:3 with labels offset 0.8,0.8 font ',8' notitle, $s1 using 1:2 with points pt 7 ps 1.3 lc rgb '#ed7d31' title "EAT, σ = 1e-06", $s1 using 1:2:3 with labels offset 0.8,0.8 font ',8' notitle, $s2 using 1:2 with points pt 7 ps 1.3 lc rgb '#70ad47' title "EAT, σ = 0.0001", $s2 using 1:2:3 with labels offset 0.8,0.8 font ',8' notitle, $s3 using 1:2 with points pt 7 ps 1.3 lc rgb '#7030a0' title "EAT, σ = 0.01", $s3 using 1:2:3 with labels offset 0.8,0.8 font ',8' notitle

unset output
set terminal svg noenhanced size 1000,600 dynamic font 'sans,10'
set output "docs/img/lambda-grid-resnet8.svg"
set title 'Accuracy vs energy ratio over λ and σ (the paper, Figure 3)'
set xlabel "energy ratio, optimised / worst case (the estimator on --ratio-samples test images, last epoch of metrics.csv)"
set ylabel 'test accuracy (%)'
set grid
set key bottom right
plot $s0 using 1:2 with points pt 7 ps 1.3 lc rgb '#4472c4' title "standard training", $s0 using 1:2:3 with labels offset 0.8,0.8 font ',8' notitle, $s1 using 1:2 with points pt 7 ps 1.3 lc rgb '#ed7d31' title "EAT, σ = 1e-06", $s1 using 1:2:3 with labels offset 0.8,0.8 font ',8' notitle, $s2 using 1:2 with points pt 7 ps 1.3 lc rgb '#70ad47' title "EAT, σ = 0.0001", $s2 using 1:2:3 with labels offset 0.8,0.8 font ',8' notitle, $s3 using 1:2 with points pt 7 ps 1.3 lc rgb '#7030a0' title "EAT, σ = 0.01", $s3 using 1:2:3 with labels offset 0.8,0.8 font ',8' notitle

unset output
